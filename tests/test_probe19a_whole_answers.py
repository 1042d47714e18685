"""probe19a: whole (non-streaming) answers under every upstream fault, through the official SDKs
against a real `arbiter serve` (tests/probe19a_harness.py for the rig and the checks).

Each cell: a request kind (plain, n > 1, parallel tool calls, json_schema, logprobs, image) x a
fault on the first model (oa-1) x `model: auto` (oa-1 first, oa-2 its fallback: failover may
answer) vs named `oa-1` (no other model: a clear error). The client gets a well-formed answer or
an OpenAI-shaped error that is never a 500, within the deadline; the books agree.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.probe19a_harness import Rig, check_books, rig_fixture, rigs_fixture, strict  # noqa: F401  (the fixtures)

IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
KINDS: dict[str, dict[str, Any]] = {
    "plain": {},
    "n3": {"n": 3},
    "tools": {
        "tools": [{"type": "function", "function": {
            "name": "lookup", "parameters": {"type": "object", "properties": {
                "q": {"type": "integer"}}}}}],
        "parallel_tool_calls": True,
    },
    "json_schema": {"response_format": {"type": "json_schema", "json_schema": {
        "name": "a", "strict": True, "schema": {"type": "object", "properties": {
            "answer": {"type": "string"}}, "required": ["answer"],
            "additionalProperties": False}}}},
    "logprobs": {"logprobs": True, "top_logprobs": 0},
}  # fmt: skip
# fault -> (may auto's failover answer?, the named model's error status)
FAULTS = {
    "ok": (True, None),
    "status@429": (True, 429),
    "status@429:1": (True, 429),
    "status@500": (True, 503),
    "status@529": (True, 503),
    "status@503:30": (True, 503),
    "stall@10": (True, 504),
    "truncated": (True, 502),  # the upstream answered, its answer broken: as cutjson
    "cutjson": (True, 502),
    "html": (True, 502),
    "oversized@200000": (True, 502),
    "nousage": (True, None),
    "absurd": (True, None),
}


def _messages(kind: str) -> list[dict[str, Any]]:
    if kind == "image":
        return [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": IMAGE}}]}]  # fmt: skip
    return [{"role": "user", "content": "Say hello to the probe."}]


# a stall reads the same whatever the request's kind: the plain kind only (each costs the
# deadline). So does an error status, before any answer: the plain kind has every one (429 with
# and without Retry-After, 500 and 529 as 503, the 503 that pauses the model); each other kind
# one 429 with its Retry-After and one 5xx, where auto's failover answer must keep the kind
OTHER_KINDS_SKIP = {"stall@10", "status@429", "status@529", "status@503:30"}
CELLS = [
    (k, f) for k in [*KINDS, "image"] for f in FAULTS if k == "plain" or f not in OTHER_KINDS_SKIP
]


@pytest.mark.parametrize("model", ["auto", "oa-1"])
@pytest.mark.parametrize(("kind", "fault"), CELLS)
def test_a_whole_answer_under_a_fault(rig: Rig, kind: str, fault: str, model: str) -> None:
    rig.up.reset(oa_1=fault)
    before = rig.snapshot()
    client = rig.gpt
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=_messages(kind), **KINDS.get(kind, {})
        )
    except openai.APIStatusError as err:
        assert err.status_code != 500 and err.status_code >= 400, err
        body = err.response.json()
        assert set(body) == {"error"} and body["error"]["message"], body
        named_status = FAULTS[fault][1]
        assert model == "oa-1" and err.status_code == named_status, (err.status_code, body)
        if ":" in fault:  # the upstream's Retry-After reaches the client
            assert "retry-after" in err.response.headers, err.response.headers
        check_books(rig, before, err.response.headers["x-arbiter-decision-id"], "failed",
                    whole=True)  # fmt: skip
        return
    answer = strict(raw.parse())
    n = KINDS.get(kind, {}).get("n", 1)
    assert len(answer.choices) == n, answer
    if kind == "tools":
        assert all(len(c.message.tool_calls or []) == 2 for c in answer.choices), answer
    if kind == "logprobs":
        assert answer.choices[0].logprobs and answer.choices[0].logprobs.content, answer
    if answer.usage is not None:  # a count that is no count (absurd: -5, 10^13) is not shown
        counts = (answer.usage.prompt_tokens, answer.usage.completion_tokens)
        assert all(0 <= v <= 10**8 for v in counts), answer.usage
    answered_by = raw.headers["x-arbiter-model"]
    if model == "oa-1":
        assert fault in ("ok", "nousage", "absurd") and answered_by == "oa-1", answered_by
    elif fault not in ("ok", "nousage", "absurd"):  # auto: oa-1 failed (or was set aside)
        assert model == "auto" and answered_by == "oa-2", (model, answered_by)
    whole = fault not in ("nousage", "absurd")  # an unknown bill is priced, not read
    # (an image: the scripted upstream bills none of it, the decision counts it by its size)
    check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=whole,
                counted=fault in ("absurd", "nousage") and kind != "image")  # fmt: skip


ANTHROPIC_TOOLS = [{"name": "lookup", "input_schema": {"type": "object",
                    "properties": {"q": {"type": "integer"}}}}]  # fmt: skip


@pytest.mark.parametrize("tools", [False, True])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_an_anthropic_whole_answer_under_a_fault(rig: Rig, fault: str, tools: bool) -> None:
    """The same faults on a model served over Anthropic's API, through the anthropic SDK (named:
    an-1 is its only model, so a fault is a clear error in Anthropic's shape)."""
    rig.up.reset(an_1=fault)
    before = rig.snapshot()
    extra: dict[str, Any] = {"tools": ANTHROPIC_TOOLS} if tools else {}
    try:
        raw = rig.claude.messages.with_raw_response.create(
            model="an-1",
            max_tokens=64,
            messages=_messages("plain"),
            **extra,  # type: ignore[arg-type]
        )
    except anthropic.APIStatusError as err:
        assert err.status_code != 500 and err.status_code >= 400, err
        body = err.response.json()
        assert body["type"] == "error" and body["error"]["message"], body
        assert fault not in ("ok", "nousage", "absurd"), body
        if ":" in fault:
            assert "retry-after" in err.response.headers, err.response.headers
        check_books(rig, before, err.response.headers["x-arbiter-decision-id"], "failed",
                    whole=True)  # fmt: skip
        return
    message = strict(raw.parse())
    assert fault in ("ok", "nousage", "absurd"), message
    uses = [b for b in message.content if b.type == "tool_use"]
    assert len(uses) == (2 if tools else 0), message
    # a count that is no count (the absurd fault: -5 in, 10^13 out) is not shown as one
    assert 0 <= message.usage.input_tokens <= 10**8, message.usage
    assert 0 <= message.usage.output_tokens <= 10**8, message.usage
    check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok",
                whole=fault not in ("nousage", "absurd"),
                counted=fault in ("absurd", "nousage"))  # fmt: skip
