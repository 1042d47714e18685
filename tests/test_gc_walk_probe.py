"""bench/gc_walk.py's probe (the gc callback it loads into the sidecar) counts what it says: per
full collection the objects walked and freed, and the young collections' running totals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bench_scripts import load

# 300 two-object cycles made after the probe is in, then one full collection
_SCRIPT = """
import gc
gc.disable()
class Node:
    pass
for _ in range(300):
    a, b = Node(), Node()
    a.other, b.other = b, a
del a, b
gc.collect(0)
gc.collect()
"""


def test_the_probe_logs_a_full_collections_walk_and_what_it_freed(tmp_path: Path) -> None:
    probe = load("gc_walk")._PROBE
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(probe)
    log = tmp_path / "gc.jsonl"
    subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        env={"PYTHONPATH": str(site), "GC_WALK_LOG": str(log), "GC_WALK_FULL_EVERY_S": "0"},
        check=True,
        timeout=60,
    )
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    full = [row["full"] for row in rows if "full" in row]
    assert len(full) == 1
    # the young collection before it freed the 300 cycles' 600 objects (and their dicts)
    assert rows[-1]["young"]["runs"] >= 1
    assert rows[-1]["young"]["freed"] >= 600
    assert full[0]["walked"] == full[0]["gen2"] + full[0]["young"] > 0
    assert full[0]["freed"] < 600  # the cycles were gone already
    assert full[0]["thread"] == "MainThread"
    assert full[0]["cpu_ms"] >= 0 and full[0]["wall_ms"] >= 0
