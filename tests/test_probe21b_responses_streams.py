"""probe21b: Responses API streams from outside, through the openai SDK's own accumulator
(`client.responses.stream`) and its raw events (`stream=True`), from an OpenAI and an Anthropic
upstream (tests/probe21b_rig.py): the event sequence the SDK expects, the final Response equal
to what a whole call answers, usage in the final event, a tool call's argument deltas, a refusal;
the decision recorded once with the upstream's usage priced."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from tests.probe21b_rig import OUTPUT_TOKENS, PRICES, PROMPT_TOKENS, Rig, rig

TOOL = {"type": "function", "name": "lookup", "strict": False,
        "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}}  # fmt: skip
MODELS = ["oa-1", "an-1"]


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("probe21b-streams")) as made:
        yield made


def mark(script: str = "ok") -> str:
    return f"[[s:{script}]] {uuid.uuid4().hex}"


def check_sequence(events: list[Any]) -> None:
    """What the SDK's accumulator and a careful client rely on: sequence numbers 0, 1, ...;
    created, in_progress first, one terminal event last; every item added before its deltas
    and done after them, with matching output indexes; every content part likewise."""
    kinds = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events))), kinds
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in ("response.completed", "response.incomplete"), kinds
    assert sum(k in ("response.completed", "response.incomplete", "response.failed")
               for k in kinds) == 1  # fmt: skip
    open_items: dict[int, str] = {}
    done_items: set[int] = set()
    for e in events[2:-1]:
        if e.type == "response.output_item.added":
            assert e.output_index not in open_items and e.output_index not in done_items
            assert e.output_index == len(open_items) + len(done_items), kinds
            open_items[e.output_index] = e.item.id
        elif e.type == "response.output_item.done":
            assert open_items.pop(e.output_index) == e.item.id
            done_items.add(e.output_index)
        else:
            assert getattr(e, "output_index", None) in open_items, (e.type, kinds)
            assert e.item_id == open_items[e.output_index], e
    assert not open_items, kinds
    final = events[-1].response
    assert [i.id for i in final.output] == [
        e.item.id for e in events if e.type == "response.output_item.done"
    ]


def books(r: Rig, decision_id: str, model: str) -> dict[str, Any]:
    rec = r.decision(decision_id)
    pin, pout = PRICES[model]
    assert rec["status"] == "ok", rec
    assert rec["cost_usd"] == pytest.approx((PROMPT_TOKENS * pin + OUTPUT_TOKENS * pout) / 1e6)
    feed = r.sidecar.admin("GET", "/arbiter/decisions?limit=50").json()["data"]
    assert [d["id"] for d in feed].count(decision_id) == 1
    return rec


@pytest.mark.parametrize("model", MODELS)
def test_a_text_stream_accumulates_to_the_whole_answer(r: Rig, model: str) -> None:
    m = mark()
    whole = r.client.responses.create(model=model, input=m + " again")
    with r.client.responses.stream(model=model, input=m + " streamed") as stream:
        events = list(stream)
        final = stream.get_final_response()
    check_sequence(events)
    assert final.output_text == whole.output_text == "ok"
    assert final.usage is not None
    assert final.usage.input_tokens == PROMPT_TOKENS
    assert final.usage.output_tokens == OUTPUT_TOKENS
    assert final.usage.total_tokens == PROMPT_TOKENS + OUTPUT_TOKENS
    assert [e.type for e in events if "text" in e.type] == [
        *(
            ["response.output_text.delta"]
            * len([e for e in events if e.type.endswith("text.delta")])
        ),
        "response.output_text.done",
    ]
    books(r, final.id.removeprefix("resp_"), model)


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_tool_call(r: Rig, model: str) -> None:
    m = mark("tool")
    with r.client.responses.stream(model=model, input=m, tools=[TOOL]) as stream:  # type: ignore[list-item]
        events = list(stream)
        final = stream.get_final_response()
    check_sequence(events)
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert json.loads(deltas) == json.loads(done.arguments) == {"q": 1}
    calls = [o for o in final.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "lookup" and calls[0].call_id
    assert json.loads(calls[0].arguments) == {"q": 1}
    books(r, final.id.removeprefix("resp_"), model)


@pytest.mark.parametrize("model", MODELS)
def test_a_streamed_refusal(r: Rig, model: str) -> None:
    """OpenAI's refusal is a completed message with a refusal part; Anthropic's
    `stop_reason: refusal` an incomplete Response (`content_filter`), streamed or not."""
    m = mark("refusal")
    events = list(r.client.responses.create(model=model, input=m, stream=True))
    check_sequence(events)
    final = events[-1].response  # the SDK's accumulator keeps only a `response.completed`
    whole = r.client.responses.create(model=model, input=m + " whole")
    assert final.status == whole.status
    assert final.status == ("completed" if model == "oa-1" else "incomplete")
    if model == "an-1":
        assert final.incomplete_details.reason == "content_filter"  # type: ignore[union-attr]
    assert [o.type for o in final.output] == [o.type for o in whole.output]
    if model == "oa-1":  # OpenAI's refusal text is a refusal part
        kinds = [e.type for e in events]
        assert "response.refusal.delta" in kinds and "response.refusal.done" in kinds
        parts = final.output[0].content  # type: ignore[union-attr]
        assert parts[-1].type == "refusal" and parts[-1].refusal == "I can't."  # type: ignore[union-attr]


class Answer(pydantic.BaseModel):
    a: int


def test_a_parsed_stream_with_a_schema(r: Rig) -> None:
    m = mark("json")
    with r.client.responses.stream(model="oa-1", input=m, text_format=Answer) as stream:
        events = list(stream)
        final = stream.get_final_response()
    check_sequence(events)
    assert final.output_parsed == Answer(a=1)
    _, body = r.recorder.one(m.split()[-1])
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_cut_by_the_output_limit_is_incomplete(r: Rig, model: str) -> None:
    m = mark("long")
    events = list(r.client.responses.create(model=model, input=m, max_output_tokens=5, stream=True))
    check_sequence(events)
    final = events[-1].response
    assert events[-1].type == "response.incomplete"
    assert final.status == "incomplete"
    assert final.incomplete_details is not None
    assert final.incomplete_details.reason == "max_output_tokens"
    whole = r.client.responses.create(model=model, input=m + " whole", max_output_tokens=5)
    assert whole.status == "incomplete"


@pytest.mark.parametrize("model", ["auto", *MODELS])
def test_raw_stream_true_events_parse(r: Rig, model: str) -> None:
    m = mark()
    events = list(r.client.responses.create(model=model, input=m, stream=True))
    check_sequence(events)
    final = events[-1].response
    assert final.output_text == "ok" and final.status == "completed"
    assert final.model in ("oa-1", "an-1")


@pytest.mark.parametrize("script", ["tools2", "text+tool"])
def test_interleaved_calls_and_text_then_a_call_stream_as_the_whole_answer(
    r: Rig, script: str
) -> None:
    """Two calls whose argument fragments an OpenAI-compatible server interleaved, or text then
    a call: each item's events in one run, the final Response the whole call's."""
    m = mark(script)
    whole = r.client.responses.create(model="oa-1", input=m, tools=[TOOL])  # type: ignore[list-item]
    with r.client.responses.stream(model="oa-1", input=m, tools=[TOOL]) as stream:  # type: ignore[list-item]
        events = list(stream)
        final = stream.get_final_response()
    check_sequence(events)

    def shape(output: list[Any]) -> list[tuple[str, str]]:
        return [(o.type, o.arguments if o.type == "function_call" else o.content[0].text)
                for o in output]  # fmt: skip

    assert shape(final.output) == shape(whole.output)
    assert [o.type for o in whole.output][-1] == "function_call"


def test_auto_parse_with_a_strict_schema_goes_to_a_model_that_can_keep_it(r: Rig) -> None:
    """`responses.parse` sends a strict json_schema: an-1 (no `json-schema` capability, the
    other protocol) cannot promise it, so `auto` serves it from oa-1, every time."""
    for _ in range(3):  # bounded; routing has no exploration here (explore = 0)
        m = mark("json")
        raw = r.client.responses.with_raw_response.parse(model="auto", input=m, text_format=Answer)
        assert raw.headers["x-arbiter-model"] == "oa-1"
        assert raw.parse().output_parsed == Answer(a=1)
