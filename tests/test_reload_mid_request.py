"""A config reload landing while a request is in flight: the request keeps the `[routing]` it
started with (request_plan.Plan.routing), as it keeps its prices. Before, a cascade whose first
call was in flight read its thresholds afresh after that call, so a reload made mid-request
judged the first answer on the new config. And the part of a reload that holds the
registry's lock on the loop (`Services.apply_settings`) is the swap alone."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter.config import ModelSettings
from arbiter.errors import UpstreamError
from arbiter.priors import PriorBook
from arbiter.types import ChatResult, Usage
from tests.budget_harness import HEADERS, Harness, Scripted, settings

# every chat request cascades: sim-small first, then the baseline; an answer passes unless it
# is shorter than the task's `cascade_min_answer_tokens`
CASCADE = (
    'explore = 0.0\ncascade_tasks = ["chat"]\ncascade_all = true\n'
    'cascade_first_model = "sim-small"\n'
)
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Say hello to the team."}]}


class Held(Scripted):
    """The first model's call waits for `release` (after saying it started); others answer."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.names: list[str] = []

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        self.names.append(model.name)
        if model.name == "sim-small":
            self.started.set()
            await self.release.wait()
        text = "Hello, team: good morning to you all."
        out = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}
        return ChatResult(model.name, out, text, "stop", Usage(100, 10), 1.0)


def test_a_reload_during_a_cascades_first_call_leaves_the_request_on_its_thresholds(
    tmp_path: Path,
) -> None:
    old = settings(tmp_path, None, routing=CASCADE)
    # the new config: every chat answer under 1,000 tokens is too short (escalates)
    # and another baseline, which the request's decision must not be costed against
    # (dearer than the first model, so the next request still cascades)
    small = old.models["sim-small"].price_out_per_mtok
    other = next(
        n for n, m in old.models.items()
        if n != old.routing.baseline and m.price_out_per_mtok > small
    )  # fmt: skip
    new_routing = dataclasses.replace(
        old.routing, cascade_min_answer_tokens={"chat": 1000}, baseline=other
    )
    new = dataclasses.replace(old, routing=new_routing)
    upstream = Held()

    async def go() -> tuple[str, str, list[str]]:
        async with Harness(old, upstream) as h:
            first = asyncio.create_task(
                h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS)
            )
            await asyncio.wait_for(upstream.started.wait(), 5.0)
            await h.services.apply_settings(new)  # the reload, while the first call is held
            upstream.release.set()
            r = await asyncio.wait_for(first, 5.0)
            assert r.status_code == 200, r.text
            row = h.decision(r.headers["x-arbiter-decision-id"])
            assert row["baseline_model"] == old.routing.baseline != other
            # the next request starts on the new config: its short answer escalates
            upstream.names.clear()
            r2 = await asyncio.wait_for(
                h.client.post("/v1/chat/completions", json=BODY, headers=HEADERS), 5.0
            )
            assert r2.status_code == 200, r2.text
            return r.headers["x-arbiter-cascade"], r2.headers["x-arbiter-cascade"], upstream.names

    during, after, names_after = asyncio.run(go())
    assert during == "passed"  # judged on the thresholds it started with (0: none)
    assert after == "escalated" and names_after[0] == "sim-small" and len(names_after) == 2


def test_a_reloads_model_priors_are_worked_out_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Services.apply_settings` holds the registry's lock on the loop; the models' priors
    (glob matching each name against the prior book's families: ~70 ms of 80 for 1,000 models)
    are worked out before it, in a thread, so the loop's step is the swap alone."""
    s = settings(tmp_path, None)
    threads: list[threading.Thread] = []
    real = PriorBook.for_model

    def spy(self: PriorBook, name: str, upstream_model: str = "") -> dict[str, float]:
        threads.append(threading.current_thread())
        return real(self, name, upstream_model)

    async def go() -> threading.Thread:
        async with Harness(s, Scripted()) as h:
            monkeypatch.setattr(PriorBook, "for_model", spy)
            await h.services.apply_settings(dataclasses.replace(s, routing=s.routing))
            return threading.current_thread()

    loop_thread = asyncio.run(go())
    assert threads and loop_thread not in threads


def test_a_reloads_registry_and_pool_are_built_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new registry (`Registry._plan`: ~23 ms at 1,005 models, bench/reload_loop_stall.py)
    and its pool are worked out in a thread; the loop's step only swaps them in. Before, both
    ran on the loop, under the registry's lock."""
    from arbiter.registry import Plan, Registry

    s = settings(tmp_path, None)
    threads: list[tuple[str, threading.Thread]] = []
    plan, pool = Registry._plan, Plan.pool

    def plan_spy(self: Registry, *args: Any, **kwargs: Any) -> Any:
        threads.append(("plan", threading.current_thread()))
        return plan(self, *args, **kwargs)

    def pool_spy(self: Plan) -> Any:
        threads.append(("pool", threading.current_thread()))
        return pool(self)

    async def go() -> threading.Thread:
        async with Harness(s, Scripted()) as h:
            monkeypatch.setattr(Registry, "_plan", plan_spy)
            monkeypatch.setattr(Plan, "pool", pool_spy)
            cheaper = dataclasses.replace(s.models["sim-small"], price_in_per_mtok=0.001)
            new = dataclasses.replace(s, models={**s.models, "sim-small": cheaper})
            await h.services.apply_settings(new)
            assert h.services.registry["sim-small"].price_in_per_mtok == 0.001
            assert {m.name: m for m in h.services.pool}["sim-small"].price_in_per_mtok == 0.001
            return threading.current_thread()

    loop_thread = asyncio.run(go())
    assert {what for what, _ in threads} == {"plan", "pool"}
    assert all(t is not loop_thread for _, t in threads)


class _HeldExtra(Scripted):
    """`extra-model`'s first call waits for `release`, then fails (a retryable upstream error:
    the retry looks its provider up again); others answer at once."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.extra_calls = 0

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        if model.name == "extra-model":
            self.extra_calls += 1
            if self.extra_calls == 1:
                self.started.set()
                await self.release.wait()
                raise UpstreamError("extra-model: connection reset")
        out = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        return ChatResult(model.name, out, "ok", "stop", Usage(10, 2), 1.0)


def test_an_upstream_taken_out_mid_request_still_answers_the_request_holding_its_model(
    tmp_path: Path,
) -> None:
    """A reload takes out the upstream `extra` and its model while a call to it is out: that
    request (its retry too, which looks the provider up again) finishes on the old provider
    (Services._gone_upstreams) and is recorded; the next request naming the model is a 404.
    Before, any `upstreams.*` difference was refused."""
    extra = (
        '[upstreams.extra]\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[models.extra-model]\nupstream = "extra"\nprice_in_per_mtok = 1.0\n'
        "price_out_per_mtok = 2.0\n"
    )
    old = settings(tmp_path, None, extra=extra)
    new = settings(tmp_path, None)
    assert "extra" in old.upstreams and "extra" not in new.upstreams
    upstream = _HeldExtra()
    body = {**BODY, "model": "extra-model"}

    async def go() -> None:
        async with Harness(old, upstream) as h:
            first = asyncio.create_task(
                h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            )
            await asyncio.wait_for(upstream.started.wait(), 5.0)
            await h.services.apply_settings(new)
            assert "extra" not in h.services.upstreams
            upstream.release.set()
            r = await asyncio.wait_for(first, 5.0)
            assert r.status_code == 200, r.text
            row = h.decision(r.headers["x-arbiter-decision-id"])
            assert row["chosen_model"] == "extra-model" and row["cost_usd"] > 0
            assert upstream.extra_calls == 2  # the retry, after the reload
            r2 = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            assert r2.status_code == 404, r2.text

    asyncio.run(go())
