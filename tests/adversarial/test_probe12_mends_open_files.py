"""Noticed, not done (eleventh session): `arbiter serve` kept the soft RLIMIT_NOFILE it
inherited, often 1,024, so a busy sidecar failed its accepts (EMFILE) at about a thousand
sockets while the hard limit allowed far more. Now serve raises the soft limit to the hard one
as it starts (open_files.py)."""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Sidecar, open_sidecar

LOW = 256


def soft_open_files(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no 'Max open files' line")


@pytest.fixture
def low_limit_sidecar(tmp_path: Path, sim_url: str) -> Iterator[Sidecar]:
    """A sidecar started with a soft limit of LOW (inherited from this process, set back
    once the child has started)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= LOW:
        pytest.fail(f"the hard open-files limit {hard} leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, hard))
    try:
        started = open_sidecar(tmp_path, sim_url)
        sidecar = next(started)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    yield sidecar
    next(started, None)


def test_serve_raises_the_soft_open_files_limit_to_the_hard_one(
    low_limit_sidecar: Sidecar,
) -> None:
    popen = low_limit_sidecar.proc.proc
    assert popen is not None
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert soft_open_files(popen.pid) == hard
