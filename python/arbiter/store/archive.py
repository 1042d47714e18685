"""Retention's archive: the decisions about to be deleted, written out first (`store.archive_dir`).

One gzipped JSON-lines file per prune, the same dicts as `arbiter export --format jsonl` (each
decision with its best grade and its `billed_usd`), streamed page by page. Written under a
temporary name and renamed when complete, so a file that exists is whole; if writing fails,
retention deletes nothing.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
from pathlib import Path

import orjson

from arbiter.store import Store
from arbiter.store.export import billed_usd

log = logging.getLogger(__name__)


def archive_older(store: Store, before: float, directory: Path) -> tuple[Path | None, int]:
    """Write every decision with ts < `before` to a new file in `directory`; (path, rows).

    No file when there is nothing to archive."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(before))
    path = directory / f"decisions-before-{stamp}.jsonl.gz"
    part = directory / f".{path.name}.{os.getpid()}.part"
    n = 0
    try:
        with gzip.open(part, "wb") as out:
            for item in store.iter_decisions(since=0.0, until=before):
                out.write(orjson.dumps({**item, "billed_usd": billed_usd(item)}) + b"\n")
                n += 1
        if n == 0:
            part.unlink()
            return None, 0
        if path.exists():  # a second prune before the same second's cut: keep both
            path = path.with_name(f"{path.name[: -len('.jsonl.gz')]}-{int(time.time())}.jsonl.gz")
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    log.info("retention: archived %d decisions to %s", n, path)
    return path, n
