"""Every upstream call a request can make is reserved for before it is made, and settled at what it
may have cost (issue 11, item 2). An in-process sidecar with scripted upstream calls."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import math
import random
from pathlib import Path
from typing import Any

import pytest

from arbiter import media, worst_case
from arbiter.errors import BudgetExceeded
from arbiter.image_rules import DEFAULT_IMAGE_RULE
from arbiter.judge_calls import judge_caller
from tests.budget_harness import HEADERS, Harness, Scripted, settings

PIN, POUT = 15.0, 60.0  # sim-premium's prices per million tokens


def usd(prompt: int, out: int) -> float:
    return (prompt * PIN + out * POUT) / 1e6


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def old_estimate(body: dict[str, Any]) -> float:
    """What the old reservation counted: chars/4 of the text parts + 4 per message, one choice."""
    text = "\n".join(
        m["content"] if isinstance(m["content"], str)
        else "\n".join(p.get("text", "") for p in m["content"] or [] if p.get("type") == "text")
        for m in body["messages"]
    )  # fmt: skip
    return usd((len(text) + 3) // 4 + 4 * len(body["messages"]), body["max_tokens"])


def assert_refused_now_but_not_before(
    tmp_path: Path, body: dict[str, Any], cap: float, capabilities: tuple[str, ...] = ()
) -> None:
    assert old_estimate(body) < cap, "the old reservation fit under the cap"
    worst = worst_case.CallWorst(lambda _m: None, body, body["max_tokens"], 2000)  # type: ignore[arg-type,return-value]
    # the harness's models' rule, each image by its bound (these: headers unread, the ceiling)
    images = worst_case.images_bound(worst_case.image_parts(body), [DEFAULT_IMAGE_RULE], None)
    prompt = worst.prompt_tokens + images
    assert usd(prompt, worst_case.choices(body) * body["max_tokens"]) > cap

    async def go() -> None:
        up = Scripted()
        async with Harness(settings(tmp_path, cap, capabilities=capabilities), up) as h:
            r = await h.chat(body)
            assert r.status_code == 429, r.text
            assert r.json()["error"]["code"] == "budget_exceeded"
            assert up.bodies == [], "no upstream call without a reservation covering it"

    run(go())


def test_all_n_choices_are_reserved(tmp_path: Path) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100, "n": 8}
    assert_refused_now_but_not_before(tmp_path, body, 0.02)


def test_tool_schemas_are_counted(tmp_path: Path) -> None:
    tools = [
        {"type": "function", "function": {
            "name": f"tool_{i}", "description": "Look up the record and return its fields. " * 8,
            "parameters": {"type": "object", "properties": {
                f"field_{j}": {"type": "string", "description": "a field"} for j in range(6)}},
        }} for i in range(40)
    ]  # fmt: skip
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10, "tools": tools}
    assert_refused_now_but_not_before(tmp_path, body, 0.01)


def test_tool_calls_and_results_are_counted(tmp_path: Path) -> None:
    args = '{"query": "' + "x1 " * 3000 + '"}'
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}]},
        ],
        "max_tokens": 10,
    }  # fmt: skip
    assert_refused_now_but_not_before(tmp_path, body, 0.01)


def test_image_parts_are_counted(tmp_path: Path) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "what is this?"}, image, image, image]
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 10}
    assert_refused_now_but_not_before(tmp_path, body, 0.01, ("vision",))


def test_cjk_text_is_counted_with_a_real_tokenizer(tmp_path: Path) -> None:
    text = "東京は日本の首都であり、世界最大級の都市圏を持つ。" * 80
    body = {"messages": [{"role": "user", "content": text}], "max_tokens": 10}
    assert_refused_now_but_not_before(tmp_path, body, 0.015)


def _failover(tmp_path: Path, cap: float, retries: int = 1, extra: str = "") -> Any:
    return settings(
        tmp_path, cap, f"[failover]\nretries_per_model = {retries}\nbackoff_ms = 1\n{extra}"
    )


BODY = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100}


def _worst() -> float:
    w = worst_case.CallWorst(lambda _m: None, BODY, 100, 2000)  # type: ignore[arg-type,return-value]
    return usd(w.prompt_tokens, 100)


@pytest.mark.parametrize("failure", ["reset", "bad_json"])
def test_a_failed_attempt_is_settled_at_its_worst_case(tmp_path: Path, failure: str) -> None:
    async def go() -> None:
        async with Harness(_failover(tmp_path, 1.0), Scripted(failure, "ok")) as h:
            r = await h.chat(BODY)
            assert r.status_code == 200, r.text
            budget = await h.settled()
            row = h.decision(r.headers["x-arbiter-decision-id"])
            assert row["cost_usd"] == pytest.approx(_worst() + usd(100, 50))
            assert budget["spent"] == pytest.approx(row["cost_usd"])
            assert budget["reserved"] == pytest.approx(0.0, abs=1e-12)

    run(go())


def test_a_request_whose_every_attempt_failed_still_pays_for_them(tmp_path: Path) -> None:
    async def go() -> None:
        async with Harness(_failover(tmp_path, 1.0), Scripted("reset", "bad_json")) as h:
            r = await h.chat(BODY)
            assert r.status_code >= 500
            budget = await h.settled()
            assert budget["spent"] == pytest.approx(2 * _worst())
            h.services.recorder.flush(5.0)
            decisions = h.services.store.decisions(tenant="default", limit=5)
            assert decisions[0]["cost_usd"] == pytest.approx(budget["spent"])

    run(go())


def test_a_stream_reset_before_content_is_paid_for(tmp_path: Path) -> None:
    async def go() -> None:
        async with Harness(_failover(tmp_path, 1.0), Scripted("cut_before_content", "ok")) as h:
            r = await h.chat({**BODY, "stream": True})
            assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
            budget = await h.settled()
            assert budget["spent"] == pytest.approx(_worst() + usd(100, 50))

    run(go())


@pytest.mark.parametrize("refusal", ["429", "refused"])
def test_calls_that_never_reached_the_upstream_cost_nothing(tmp_path: Path, refusal: str) -> None:
    async def go() -> None:
        async with Harness(_failover(tmp_path, 1.0), Scripted(refusal, "ok")) as h:
            r = await h.chat(BODY)
            assert r.status_code == 200
            assert (await h.settled())["spent"] == pytest.approx(usd(100, 50))

    run(go())


def test_every_retry_is_reserved_before_it_is_made(tmp_path: Path) -> None:
    """Room for one worst case only: after a billed failure, the retry cannot be covered."""

    async def go() -> None:
        up = Scripted("reset", "ok")
        async with Harness(_failover(tmp_path, _worst() * 1.5), up) as h:
            r = await h.chat(BODY)
            assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
            assert len(up.bodies) == 1, "the retry was not made"
            budget = await h.settled()
            assert budget["spent"] == pytest.approx(_worst())
            assert budget["reserved"] == pytest.approx(0.0, abs=1e-12)

    run(go())


def test_the_enforced_limit_goes_out_under_the_models_parameter(tmp_path: Path) -> None:
    async def go(extra: str, expect: str, other: str) -> None:
        up = Scripted()
        async with Harness(settings(tmp_path, 1.0, extra), up) as h:
            body = {"messages": [{"role": "user", "content": "hi"}]}
            assert (await h.chat(body)).status_code == 200
            sent = up.bodies[0]
            assert sent[expect] == h.services.settings.budgets.default_max_output_tokens
            assert other not in sent
            assert (await h.chat({**body, "max_tokens": 7})).status_code == 200
            # the client's own limit, under the name the model takes (upstream_body.limit_named)
            assert up.bodies[1][expect] == 7
            assert other not in up.bodies[1]

    run(go("", "max_completion_tokens", "max_tokens"))
    (tmp_path / "b").mkdir()
    run(go2(tmp_path / "b"))


def go2(tmp_path: Path) -> Any:
    """A model configured to take `max_tokens` gets the limit under that name."""

    async def inner() -> None:
        s = settings(tmp_path, 1.0)
        m = s.models["sim-premium"]
        models = dict(s.models)
        models["sim-premium"] = dataclasses.replace(m, max_tokens_param="max_tokens")
        s = dataclasses.replace(s, models=models)
        up = Scripted()
        async with Harness(s, up) as h:
            assert (
                await h.chat({"messages": [{"role": "user", "content": "hi"}]})
            ).status_code == 200
            assert up.bodies[0]["max_tokens"] == s.budgets.default_max_output_tokens
            assert "max_completion_tokens" not in up.bodies[0]

    return inner()


def test_judge_calls_are_reserved_and_settled_in_the_judge_scope(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "grade this " * 50}]

    async def go(cap: float, scope: str) -> tuple[bool, dict[str, float]]:
        s = settings(tmp_path / scope / str(cap), cap, f'[budgets]\njudge_scope = "{scope}"')
        async with Harness(s, Scripted()) as h:
            try:
                await judge_caller(h.services)(messages, "default")
                called = True
            except BudgetExceeded:
                called = False
            return called, await h.settled()

    called, budget = run(go(1.0, "tenant"))
    assert called and budget["spent"] > 0 and budget["reserved"] == pytest.approx(0, abs=1e-12)
    called, budget = run(go(0.0001, "tenant"))
    assert not called and budget.get("spent", 0.0) == 0.0
    called, budget = run(go(0.0001, "none"))
    assert called and budget == {}


CASCADE = (
    'explore = 0.0\ncascade_tasks = ["chat"]\ncascade_first_model = "sim-small"\n'
    "cascade_min_answer_tokens = { chat = 100000 }"  # every first answer escalates
)


def test_a_cascade_reserves_its_escalated_call_on_top_of_the_first(tmp_path: Path) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "Tell me about tides."}],
            "max_tokens": 1000}  # fmt: skip
    worst = worst_case.CallWorst(lambda _m: None, body, 1000, 2000)  # type: ignore[arg-type,return-value]
    dear = usd(worst.prompt_tokens, 1000)
    first_cost = (100 * 0.5 + 1000 * 1.5) / 1e6  # sim-small's usage below

    async def go(cap: float) -> tuple[int, list[str], dict[str, float], str]:
        up = Scripted(usage=(100, 1000))
        async with Harness(settings(tmp_path / str(cap), cap, routing=CASCADE), up) as h:
            r = await h.client.post("/v1/chat/completions", json=body, headers=HEADERS)
            answer = r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else ""
            return r.status_code, [b["model"] for b in up.bodies], await h.settled(), answer

    # room for the dearest call plus the first one: both are made, both are paid
    status, calls, budget, _ = run(go(dear + first_cost * 1.01))
    assert status == 200 and len(calls) == 2
    assert budget["reserved"] == pytest.approx(0.0, abs=1e-12)
    # room for the dearest call only: after the first call, the escalated one cannot be covered,
    # so it is not made; the first answer, already paid for, is served rather than a 429
    status, calls, budget, answer = run(go(dear + first_cost * 0.5))
    assert len(calls) == 1, "the escalated call was made without a reservation covering it"
    assert status == 200 and answer, "the paid first answer was thrown away"
    assert budget["spent"] == pytest.approx(first_cost)  # counted once
    assert budget["reserved"] == pytest.approx(0.0, abs=1e-12)


def test_an_audio_clip_is_reserved_by_its_longest_duration_not_its_base64(
    tmp_path: Path,
) -> None:
    """1 MB of MP3 plays at most 1,049 s (8 kbit/s: MPEG's lowest bitrate) and bills 10 tokens a
    second: ~10,500 tokens, $0.16 at sim-premium's price. Tokenized as base64 text it reserved
    ~950,000 tokens ($14): a 429 under a $1 cap for a clip that costs cents."""
    clip = base64.b64encode(random.Random(7).randbytes(1 << 20)).decode()
    part = {"type": "input_audio", "input_audio": {"data": clip, "format": "mp3"}}
    content = [{"type": "text", "text": "Transcribe this."}, part]
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 10}
    plain = {"messages": [{"role": "user", "content": "Transcribe this."}], "max_tokens": 10}
    clip_tokens = worst_case.prompt_tokens(body, 0) - worst_case.prompt_tokens(plain, 0)
    ceiling = math.ceil((1 << 20) / 1000 * 10)
    assert ceiling <= clip_tokens <= ceiling + 50, clip_tokens  # the clip's ceiling, its JSON
    assert clip_tokens >= media.media_parts([{"content": [part]}])[2]  # never below routing's count

    async def go() -> None:
        up = Scripted()
        async with Harness(settings(tmp_path, 1.0, capabilities=("audio",)), up) as h:
            r = await h.chat(body)
            assert r.status_code == 200, r.text
            assert len(up.bodies) == 1

    run(go())
