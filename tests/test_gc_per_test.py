"""gc_per_test: a socket leaked in a reference cycle fails the test that leaked it, not the
next test whose allocations happen to start the collector (test_budget_holds failed so)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ENV

ROOT = Path(__file__).resolve().parent.parent

LEAKS_THEN_ALLOCATES = """
import gc
import socket


def test_a_leaks_a_socket_in_a_cycle():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    cycle = [sock]
    cycle.append(cycle)  # unreachable once the test returns; freed by the collector only


def test_b_allocates_innocently():
    # what any busy test does: enough new containers for the collector to run on its own
    gc.set_threshold(100, 1, 1)
    keep = [[i] for i in range(100_000)]
    assert len(keep) == 100_000
"""


def _run(tmp_path: Path, *plugin: str) -> str:
    (tmp_path / "test_inner.py").write_text(LEAKS_THEN_ALLOCATES)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
         "-W", "error", "--rootdir", str(tmp_path), "-c", "/dev/null", *plugin,
         str(tmp_path / "test_inner.py")],
        env={**ENV, "PYTHONPATH": str(ROOT)},  # `tests.gc_per_test` importable, nothing else
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return out.stdout + out.stderr


def test_the_leaking_test_fails_and_the_next_one_passes(tmp_path: Path) -> None:
    out = _run(tmp_path, "-p", "tests.gc_per_test")
    assert "ERROR test_inner.py::test_a_leaks_a_socket_in_a_cycle" in out, out
    assert "unclosed <socket.socket" in out, out
    assert "PASSED test_inner.py::test_b_allocates_innocently" in out, out
