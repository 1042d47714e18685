"""`server.max_answer_bytes_in_flight` bounds the whole `arbiter serve`: with `server.workers =
N` each worker process holds 1/N of it (at least 1 MiB). Before, each worker took the whole
key, N budgets: 4 workers at the 512 MiB default could hold 2 GiB of large answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter import answer_bytes, config
from arbiter.offline.demo import demo_config
from arbiter.services import Services
from tests.conftest import ENV


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    answer_bytes.configure(answer_bytes.DEFAULT_LIMIT)


def _limit_in_a_worker(tmp_path: Path, workers: int, budget: int | None) -> int:
    text = demo_config("http://127.0.0.1:9", tmp_path / "a.db")
    lines = f"[server]\nworkers = {workers}\n"
    if budget is not None:
        lines += f"max_answer_bytes_in_flight = {budget}\n"
    assert text.count("[server]\n") == 1
    settings = config.loads(text.replace("[server]\n", lines, 1), env=ENV)
    assert settings.server.workers == workers
    Services(settings, seed=1)  # what each worker process makes at its start (no I/O)
    return answer_bytes.BUDGET.limit


@pytest.mark.parametrize(
    ("workers", "budget", "share"),
    [
        (1, None, answer_bytes.DEFAULT_LIMIT),  # one process: the whole key (the control)
        (4, None, answer_bytes.DEFAULT_LIMIT // 4),
        (3, 300 << 20, 100 << 20),
        (256, 2 << 20, 1 << 20),  # never under 1 MiB (one counted answer's worth)
    ],
)
def test_each_worker_holds_its_share(
    tmp_path: Path, workers: int, budget: int | None, share: int
) -> None:
    assert _limit_in_a_worker(tmp_path, workers, budget) == share
