"""rep27: a reset committing between a backlog write's check of `arm_resets` and its write.

A policy batch taken before a change and written after another replica's reset of it adds no
grade (rep26b, store/arm_resets.py `_reset_after`). The check and the write were two steps: a
reset committing between them still got the batch's pre-change grades added on top. Here the
check is followed (a patched `_reset_after`) by another store's reset of the arm, given up to
1 s to commit before the write goes on: before, it committed and the batch was added; now it
waits on the arm's lock until the write commits, then sets the arm (PostgreSQL). SQLite's
write transaction holds the file's write lock from its start: the reset waits there too."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from arbiter.records import PolicyDelta
from arbiter.store import arm_resets, open_store
from tests.pg import empty_store_url

pytestmark = pytest.mark.timeout(60)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
KEY = ("default", "math", "m")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", ["write", "write_batches"])
def test_a_reset_between_a_backlog_checks_and_its_write_drops_the_batch(
    backend: str, path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`write`: one batch with its time (`_reset_after`'s check); `write_batches`: the sync's
    queue, several a transaction (store/policy_batches.py, rep27; `_reset_starts`' check)."""
    with empty_store_url(backend, tmp_path / "race.db") as url:
        writer, resetter = open_store(url), open_store(url)
        try:
            writer.migrate()
            writer.write([PolicyDelta(*KEY, 90.0, 10.0, 100.0)], replica="b")  # the level before
            now = time.time()
            taken, started = now - 60.0, now - 30.0  # the batch was taken before the change
            reset = [(*KEY, "down", 1.0, 4.0, 5.0, started, now, 0.9, 0.2)]
            outcome: list[Any] = []

            def reset_now() -> None:
                try:
                    outcome.append(resetter.reset_arms(reset, 600.0, "b"))
                except Exception as err:  # (the assertion below names it)
                    outcome.append(err)

            check = "_reset_after" if path == "write" else "_reset_starts"
            checked = getattr(arm_resets.ArmResetsMixin, check)
            racer = threading.Thread(target=reset_now)

            def check_then_reset(self: Any, *args: Any) -> Any:
                found = checked(self, *args)
                if self is writer and not racer.is_alive() and not outcome:
                    racer.start()  # the reset runs now, between the check and the write
                    racer.join(1.0)
                return found

            monkeypatch.setattr(arm_resets.ArmResetsMixin, check, check_then_reset)
            late = [PolicyDelta(*KEY, 50.0, 0.0, 50.0)]
            if path == "write":
                writer.write(late, batch_id="late", replica="a", logged_at=taken)
            else:
                assert writer.write_batches([("late", [], late, taken)], 600.0, "a") == 1
            racer.join(10.0)
            assert outcome == [1], outcome
            arm = writer.load_arms("default")[0]
            # the reset's sums alone (before: the batch's 50 pre-change grades on top)
            assert (arm.alpha, arm.beta, arm.n) == (1.0, 4.0, 5.0)
        finally:
            writer.close()
            resetter.close()
