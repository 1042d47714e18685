"""The per-task answer-length corrections (`length_task.TaskResiduals`) were not stored (rep24):
a restart forgot them, and another replica never had them, so its SLO decisions read a
translation (~12 tokens) at the regression's length for the mixed workload. Now each task's
window is written with the length fits (store/length_fits.py, part `task:<name>`, at most each
`length_task.TASK_WRITE_S`) and read at start: a restarted replica and a second one started
on the same PostgreSQL store predict each task's length as the replica that learnt it."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.difficulty import prompt_stats
from arbiter.length_task import TaskResiduals
from tests.pg import empty_store_url
from tests.test_shared_slopes import _services

STATS = prompt_stats("Please help me with the following request about the garden.")


def _teach(lengths: object, model: str) -> None:
    observe = lengths.observe  # type: ignore[attr-defined]
    for i in range(240):  # look-alike prompts: translations ~12 tokens, chat ~100
        task, n = ("translation", 12 + i % 3) if i % 2 else ("chat", 95 + i % 11)
        observe(model, STATS, n, task=task)


@pytest.mark.postgres
def test_a_restart_and_a_second_replica_keep_the_task_corrections(tmp_path: Path) -> None:
    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        a = _services(url, tmp_path, seed=1)
        model = next(m.name for m in a.pool)
        try:
            before = a.lengths.log_moments(model, STATS, "translation")
            _teach(a.lengths, model)
            learnt = {t: a.lengths.log_moments(model, STATS, t) for t in ("translation", "chat")}
            # the correction is what tells the tasks apart (the regression sees one prompt)
            assert learnt["chat"][0] - learnt["translation"][0] > 1.5, learnt
            assert abs(before[0] - learnt["translation"][0]) > 0.5, (before, learnt)
            a.sync_policy()
        finally:
            a.store.close()
        for who in ("restarted", "second replica"):  # each a fresh process's Services
            b = _services(url, tmp_path, seed=2)
            try:
                for task, (mu, var) in learnt.items():
                    got = b.lengths.log_moments(model, STATS, task)
                    assert got[0] == pytest.approx(mu, abs=0.05), (who, task, got, mu)
                    assert got[1] == pytest.approx(var, rel=0.1), (who, task, got, var)
            finally:
                b.store.close()


def test_a_window_reads_back_as_written_and_a_damaged_one_is_refused() -> None:
    tasks = TaskResiduals()
    for i in range(230):  # past the window: the ring has wrapped
        tasks.observe("t", 2.0 + (i % 7) / 10, 2.5 + (i % 5) / 10, None, f"m{i % 3}")
    [(task, doc)] = tasks.states(0.0, every_s=0.0)
    assert tasks.states(1.0, every_s=0.0) == [], "only tasks observed since"
    other = TaskResiduals()
    assert other.seed({task: doc, "bad": {**doc, "n": 10_000}, "worse": {"rows": 5}}) == [
        "bad", "worse",
    ]  # fmt: skip
    mine, theirs = tasks.correction("t"), other.correction("t")
    assert mine is not None and theirs is not None
    assert (theirs.beta, theirs.center, theirs.n, theirs.upside_sum) == pytest.approx(
        (mine.beta, mine.center, mine.n, mine.upside_sum)
    )
    assert other.correction("bad") is None
