"""probe19b: retention with `store.archive_dir` archived the decisions before its cut, then
deleted every decision before the cut. A decision is written when its request ends but stamped
when it began: one that began before the cut and was written while the archive was being read
was deleted and in no archive (lost, though the archive exists to keep every deleted row). Now a
prune whose store holds more decisions before the cut than it archived deletes no record that
round; the next round archives and deletes them. Both stores."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter import config, services
from arbiter.offline.demo import demo_settings
from arbiter.services import Services
from arbiter.store.archive import archive_older
from arbiter.toml_text import to_toml
from tests.conftest import ENV
from tests.pg import empty_store_url
from tests.store.conftest import decision


def _archived(folder: Path) -> list[str]:
    return [
        orjson.loads(line)["id"]
        for path in sorted(folder.iterdir())
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_decision_written_while_retention_archived_is_not_deleted_unarchived(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    archive = tmp_path / "archive"
    with empty_store_url(backend, tmp_path / "r.db") as url:
        doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "r.db")
        doc["store"].update(url=url, retention_days=1, archive_dir=str(archive))
        svc = Services(config.loads(to_toml(doc), env=ENV), seed=1)
        svc.load_state()
        try:
            now = time.time()
            svc.store.write([decision("old", ts=now - 3 * 86400), decision("new", ts=now - 60)])

            def archive_then_a_late_write(*args: Any) -> tuple[Path | None, int]:
                out = archive_older(*args)
                # a long request that began two days ago ends now: written after the read
                svc.store.write([decision("late", ts=now - 2 * 86400)])
                return out

            monkeypatch.setattr(services, "archive_older", archive_then_a_late_write)
            deleted = svc.prune_once(now)
            assert deleted.get("decisions", 0) == 0, deleted
            assert svc.store.decision("late") is not None, "deleted, and in no archive"
            assert _archived(archive) == ["old"]

            monkeypatch.setattr(services, "archive_older", archive_older)
            assert svc.prune_once(now + 1)["decisions"] == 2  # the next round: both, archived
            assert sorted(_archived(archive)) == ["late", "old", "old"]
            assert svc.store.decision("late") is None and svc.store.decision("new") is not None
        finally:
            svc.store.close()
