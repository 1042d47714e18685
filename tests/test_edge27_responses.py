"""edge27: /v1/responses edges from outside (the official openai SDK) against a real `arbiter
serve` in front of a recording upstream (tests/probe21b_rig.py): `service_tier` goes on and is
billed as chat's, the count endpoint takes its own body's fields only, and a tool's output holds
the spec's input parts only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from tests.probe21b_rig import (
    _MARK,
    OUTPUT_TOKENS,
    PRICES,
    PROMPT_TOKENS,
    Rig,
    _Handler,
    chat_answer,
    rig,
)

TIER = b"tier"  # the script of an upstream that serves the tier it was asked (as OpenAI's says)


class _Tiered(_Handler):
    def scripted(self, script: str, body: dict[str, Any]) -> bool:
        if script != TIER.decode():
            return False
        whole, frames = chat_answer(body, "ok")
        tier = body.get("service_tier") or "default"
        if body.get("stream"):  # OpenAI names the tier in every chunk
            tagged = []
            for frame in frames:
                head, _, data = frame.partition(b"data: ")
                if data.strip() in (b"", b"[DONE]"):
                    tagged.append(frame)
                    continue
                chunk = orjson.loads(data)
                tagged.append(head + b"data: " + orjson.dumps({**chunk, "service_tier": tier}))
                tagged[-1] += b"\n\n"
            self._send(b"".join(tagged), "text/event-stream")
        else:
            self._send(orjson.dumps({**whole, "service_tier": tier}), "application/json")
        return True


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge27-responses"), _Tiered) as made:
        yield made


@pytest.mark.parametrize("stream", [False, True])
def test_service_tier_reaches_an_openai_model_and_is_billed_as_chats(r: Rig, stream: bool) -> None:
    """It was typed and dropped: a client asking for priority processing got the standard one
    while chat's same field reached the model. Now sent on, and a call whose answer says it ran
    at priority is billed at the model's price_fast_factor (2 on an OpenAI upstream), as chat's."""
    pin, pout = PRICES["oa-1"]
    standard = (PROMPT_TOKENS * pin + OUTPUT_TOKENS * pout) / 1e6
    costs = {}
    for tier in ("priority", None):
        word = uuid.uuid4().hex
        more = {} if tier is None else {"service_tier": tier}
        raw = r.client.responses.with_raw_response.create(  # type: ignore[call-overload]
            model="oa-1", input=f"{_MARK.decode()}tier]] {word}", stream=stream, **more
        )
        answer = raw.parse()
        if stream:
            assert [e.type for e in answer][-1] == "response.completed"
        body = r.recorder.one(word)[1]
        assert body.get("service_tier") == tier, body
        costs[tier] = r.decision(raw.headers["x-arbiter-decision-id"])["cost_usd"]
    assert costs[None] == pytest.approx(standard)
    assert costs["priority"] == pytest.approx(2 * standard)


def test_service_tier_is_dropped_and_named_for_an_anthropic_model(r: Rig) -> None:
    """Anthropic's tiers are other words: left out of its body and named, as chat does."""
    word = uuid.uuid4().hex
    raw = r.client.responses.with_raw_response.create(  # type: ignore[call-overload]
        model="an-1", input=f"hi {word}", service_tier="priority"
    )
    assert "service_tier" in raw.headers.get("x-arbiter-dropped", "")
    assert "service_tier" not in r.recorder.one(word)[1]


CREATE_ONLY: dict[str, Any] = {
    "stream": True,
    "max_output_tokens": 50,
    "temperature": 0.2,
    "top_p": 0.5,
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "metadata": {"a": "b"},
    "safety_identifier": "u-1",
    "service_tier": "priority",
    "top_logprobs": 0,
    "stream_options": {"include_obfuscation": False},
    "prompt_cache_key": "k",
    "user": "u",
}


@pytest.mark.parametrize("field", list(CREATE_ONLY))
def test_input_tokens_refuses_create_only_fields(r: Rig, field: str) -> None:
    """TokenCountsBody (the spec's count body) has none of them: each was accepted and ignored
    (a caller would believe a `max_output_tokens` or `stream` was counted). OpenAI's 400."""
    with pytest.raises(openai.BadRequestError) as bad:
        r.client.responses.input_tokens.count(
            model="oa-1", input="hi", extra_body={field: CREATE_ONLY[field]}
        )
    assert bad.value.param == field
    assert f"Unknown parameter: '{field}'" in str(bad.value)


def test_input_tokens_takes_every_field_of_its_body(r: Rig) -> None:
    """The control: the count body's own fields are still taken (none a 400)."""
    counted = r.client.responses.input_tokens.count(
        model="oa-1",
        input="hi",
        instructions="Be brief.",
        truncation="disabled",
        parallel_tool_calls=True,
        tool_choice="auto",
        text={"format": {"type": "text"}},
        reasoning={"effort": "low"},
        personality="friendly",  # type: ignore[arg-type]
    )
    assert counted.input_tokens > 0


def _tool_loop(output: Any, word: str) -> list[dict[str, Any]]:
    call = {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"}
    return [
        {"role": "user", "content": f"look it up {word}"},
        call,
        {"type": "function_call_output", "call_id": "call_1", "output": output},
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "output_text", "text": "42"},
        {"type": "refusal", "refusal": "no"},
        {"type": "text", "text": "42"},
    ],
)
def test_a_tool_output_holds_input_parts_only(r: Rig, part: dict[str, Any]) -> None:
    """The spec's FunctionCallOutputItemParam lists input_text, input_image and input_file:
    the model's own output text or refusal as a tool's result was read as text (sent on as
    if the tool had said it). A 400 naming the part, before any upstream call."""
    word = uuid.uuid4().hex
    with pytest.raises(openai.BadRequestError) as bad:
        r.client.responses.create(model="oa-1", input=_tool_loop([part], word))  # type: ignore[arg-type]
    assert bad.value.param == "input[2].output[0].type"
    assert not r.recorder.bodies(word)


def test_a_tool_output_of_input_text_is_read(r: Rig) -> None:
    """The control: an input_text part (the spec's) reaches the model as the tool's result."""
    word = uuid.uuid4().hex
    r.client.responses.create(
        model="oa-1",
        input=_tool_loop([{"type": "input_text", "text": f"forty-two {word}"}], word),  # type: ignore[arg-type]
    )
    body = r.recorder.one(f"forty-two {word}")[1]
    assert body["messages"][-1]["role"] == "tool"
