"""A cascade's cheap call that fails once (route25 item 2): a retryable error (a connection
refused, a 500) sent the request straight to the escalation target, paying the strong model for
a transient fault. Now the cheap model is retried (and the cascade's other first models failed
over to) within the request's deadline, as plain routing does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from arbiter.config import ModelSettings
from arbiter.types import ChatResult
from tests.budget_harness import HEADERS, Harness, Scripted, settings

CASCADE = (
    'explore = 0.0\ncascade_tasks = ["chat"]\ncascade_first_model = "sim-small"\n'
    'cascade_first_models = ["sim-tiny"]\n'
)
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Tell me about tides."}]}


class Named(Scripted):
    """Scripted, failing only the calls to `failing` (each of its steps in turn)."""

    def __init__(self, failing: set[str], *steps: str) -> None:
        super().__init__(*steps)
        self.failing = failing
        self.names: list[str] = []

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        self.names.append(model.name)
        if model.name not in self.failing:
            self.bodies.append(body)
            return await Scripted().complete(body, model)
        return await super().complete(body, model)


def cascade(tmp_path: Path, retries: int, up: Named) -> tuple[int, list[str], dict[str, Any]]:
    failover = f"[failover]\nretries_per_model = {retries}\nbackoff_ms = 1\n"

    async def go() -> tuple[int, list[str], dict[str, Any]]:
        async with Harness(settings(tmp_path, 10.0, failover, routing=CASCADE), up) as h:
            r = await h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS)
            budget = await h.settled()
            assert budget["reserved"] == pytest.approx(0.0, abs=1e-12)
            return r.status_code, up.names, h.decision(r.headers["x-arbiter-decision-id"])

    return asyncio.run(go())


@pytest.mark.parametrize("fault", ["refused", "reset"])
def test_a_cheap_call_failing_once_is_retried_not_escalated(tmp_path: Path, fault: str) -> None:
    status, names, row = cascade(tmp_path, 1, Named({"sim-small"}, fault))
    assert status == 200
    assert names[:2] == ["sim-small", "sim-small"], (names, row["reason"])
    tries = [(a["model"], a["ok"]) for a in row["attempts"]]
    assert tries[:2] == [("sim-small", False), ("sim-small", True)], row["attempts"]


def test_a_cheap_model_that_keeps_failing_fails_over_to_the_next_first_model(
    tmp_path: Path,
) -> None:
    status, names, row = cascade(tmp_path, 0, Named({"sim-small"}, "refused", "refused"))
    assert status == 200
    assert names[:2] == ["sim-small", "sim-tiny"], (names, row["reason"])
