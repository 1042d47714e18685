"""What a cascade tells its caller, and what it learns once.

- No header said a request escalated (only the decision's reason, behind the admin API):
  `x-arbiter-cascade` now says `passed`, `escalated` or `first-answer-served`.
- The in-request judge's call is recorded as its own decision, and its cost was in neither
  `x-arbiter-cost-usd` nor the answer's `usage.cost`, though the caller's tenant paid it
  (`budgets.judge_scope`): both now say cheap try + judge + escalation, and
  `x-arbiter-judge-cost-usd` gives the judge's part. The request's decision holds that cost too
  (what serving the request cost, against a baseline that pays no judge), so the tenant's stats
  count it once, in its own cost: the judge's decision (mode `cascade_judge`, kept for audit) is
  in no tenant figure and not on the learning line (a sampled grading judge is learning; this
  one is part of the answer).
- A weak first answer served after the escalation failed was observed twice in the answer
  lengths (once when it escalated, again when it was recorded as served).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from arbiter.config import ModelSettings
from arbiter.errors import UpstreamUnavailable
from arbiter.types import ChatResult, Usage
from tests.budget_harness import HEADERS, Harness, Scripted, settings

JUDGED = (
    'explore = 0.0\ncascade_tasks = ["chat", "creative"]\ncascade_all = true\n'
    'cascade_first_model = "sim-small"\ncascade_judge_model = "sim-tiny"\n'
    "cascade_judge_gain = { chat = [5.0, -10.0], creative = [5.0, -10.0] }\n"
    "cascade_min_expected_gain = 0.5\n"
)
PROMPT = "Write a short note inviting a neighbour to a garden party."
BODY = {"model": "auto", "messages": [{"role": "user", "content": PROMPT}]}


class Judged(Scripted):
    """sim-tiny is the judge (replies `score`); every answer reports its cost in usage.cost;
    a model in `down` fails."""

    def __init__(self, score: int, down: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.score, self.down = score, down
        self.names: list[str] = []

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        self.names.append(model.name)
        if model.name in self.down:
            raise UpstreamUnavailable(f"{model.name}: down")
        grading = "[QUESTION]" in json.dumps(body.get("messages", []))
        text = f"Fair.\nSCORE: {self.score}" if grading else f"Come on Saturday ({model.name})."
        cost = model.cost_usd(100, 50)
        out = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 100, "completion_tokens": 50, "cost": cost}}  # fmt: skip
        return ChatResult(
            model.name, out, text, "stop", Usage(100, 50, reported_cost_usd=cost), 1.0
        )


Asked = tuple[Any, dict[str, Any], list[dict[str, Any]], dict[str, Any]]


def _ask(tmp_path: Path, upstream: Judged) -> Asked:
    async def go() -> Asked:
        async with Harness(settings(tmp_path, None, routing=JUDGED), upstream) as h:
            r = await h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS)
            await h.settled()
            row = h.decision(r.headers["x-arbiter-decision-id"])
            rows = h.services.store.decisions(tenant=None, limit=10)
            judges = [d for d in rows if d["mode"] == "cascade_judge"]
            stats = (await h.client.get("/arbiter/stats", headers=HEADERS)).json()
            return r, row, judges, stats

    return asyncio.run(go())


def _counted_once(row: dict[str, Any], judge: dict[str, Any], stats: dict[str, Any]) -> None:
    """The tenant's stats hold the request's cost, judge included, once; learning does not."""
    assert stats["requests"] == 1, stats
    assert abs(stats["cost_usd"] - row["cost_usd"]) < 1e-12, (stats, row)
    assert stats["learning"]["by_mode"]["judge"]["requests"] == 0, stats["learning"]
    assert abs(stats["learning"]["cost_usd"]) < 1e-12, stats["learning"]


def test_an_escalation_is_named_and_its_judge_is_in_the_callers_cost(tmp_path: Path) -> None:
    r, row, judges, stats = _ask(tmp_path, Judged(score=2))  # a low score: escalated
    assert r.status_code == 200, r.text
    assert r.headers["x-arbiter-cascade"] == "escalated"
    (judge,) = judges
    assert judge["cost_usd"] > 0
    total = row["cost_usd"]  # the request's decision holds its judge's cost
    assert total > judge["cost_usd"]
    assert float(r.headers["x-arbiter-cost-usd"]) == round(total, 8)
    assert float(r.headers["x-arbiter-judge-cost-usd"]) == round(judge["cost_usd"], 8)
    assert abs(r.json()["usage"]["cost"] - total) < 1e-12
    _counted_once(row, judge, stats)


def test_a_passed_first_answer_says_so_and_counts_its_judge(tmp_path: Path) -> None:
    r, row, judges, stats = _ask(tmp_path, Judged(score=9))  # a high score: the cheap answer kept
    assert r.status_code == 200, r.text
    assert r.headers["x-arbiter-cascade"] == "passed"
    assert r.headers["x-arbiter-model"] == "sim-small"
    (judge,) = judges
    total = row["cost_usd"]
    assert total > judge["cost_usd"] > 0
    assert float(r.headers["x-arbiter-cost-usd"]) == round(total, 8)
    assert abs(r.json()["usage"]["cost"] - total) < 1e-12
    _counted_once(row, judge, stats)


def test_a_request_that_does_not_cascade_has_no_cascade_header(tmp_path: Path) -> None:
    async def go() -> Any:
        async with Harness(settings(tmp_path, None), Judged(score=9)) as h:
            return await h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS)

    r = asyncio.run(go())
    assert r.status_code == 200
    assert "x-arbiter-cascade" not in r.headers and "x-arbiter-judge-cost-usd" not in r.headers


def test_a_weak_answer_served_after_a_failed_escalation_is_one_length(tmp_path: Path) -> None:
    strong = ("sim-medium", "sim-premium", "sim-large")
    upstream = Judged(score=2, down=strong)
    seen: list[tuple[str, int]] = []

    async def go() -> Any:
        async with Harness(settings(tmp_path, None, routing=JUDGED), upstream) as h:
            observe = h.services.lengths.observe

            def counted(model: str, stats: bytes, tokens: int, **kw: Any) -> None:
                seen.append((model, tokens))
                observe(model, stats, tokens, **kw)

            h.services.lengths.observe = counted  # type: ignore[method-assign,assignment]
            r = await h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS)
            await h.settled()
            return r

    r = asyncio.run(go())
    assert r.status_code == 200, r.text
    assert r.headers["x-arbiter-cascade"] == "first-answer-served"
    assert r.headers["x-arbiter-model"] == "sim-small"
    assert [m for m, _ in seen].count("sim-small") == 1, seen
