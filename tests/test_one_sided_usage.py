"""A whole answer whose usage counted one side of the call alone (an Anthropic Message with
`input_tokens` and no `output_tokens`, a chat completion without `completion_tokens`, or the
reverse) was priced on that side alone: the missing one billed as 0, so a cap leaked. The side it
gave is now kept and the missing one counted by Arbiter (dropped_usage.py), with the operator's
`usage_dropped` alert; an embeddings list's `prompt_tokens` alone is its whole bill and stays
exact. Pass-through /v1/completions and /v1/embeddings whose counts are no counts (-5, 10^13) are
priced from what they relayed too. Against a real `arbiter serve` through the official SDKs, the
scripted upstream billing 11 prompt and 7 output tokens (tests/probe19a_harness.py)."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.upstream import anthropic as anthropic_upstream
from arbiter.upstream import openai as openai_upstream
from tests.fault_upstream import COMPLETION_TOKENS, PROMPT_TOKENS, WORDS
from tests.probe19a_harness import (  # noqa: F401  (the fixtures)
    PRICES,
    Rig,
    check_books,
    rig_fixture,
    rigs_fixture,
    strict,
)

ANSWER = "".join(WORDS)
MAX_TOKENS = 1000  # the worst case: ~100x the bill, so a call priced at it fails `counted`


def test_which_usages_count_one_side() -> None:
    def chat(usage: Any) -> Any:
        return openai_upstream.parse_usage({"usage": usage}, None)

    assert chat({"prompt_tokens": 5}).output_missing
    assert chat({"completion_tokens": 5, "prompt_tokens": None}).prompt_missing
    # a side counted 0 is no count (probe23b: the answer's output was billed as free)
    assert chat({"prompt_tokens": 5, "completion_tokens": 0}).output_missing
    assert chat({"prompt_tokens": 0, "completion_tokens": 5}).prompt_missing
    # an Anthropic prompt read from the cache alone counted it: input_tokens 0 is fine there
    assert not anthropic_upstream.parse_usage(
        {"input_tokens": 0, "cache_read_input_tokens": 9, "output_tokens": 2}
    ).one_sided
    # no usage at all misses both sides (test_missing_usage.py: counted when the answer finished)
    for none in (chat({}), openai_upstream.parse_usage({}, None)):
        assert none.prompt_missing and none.output_missing
    assert not chat({"prompt_tokens": -5}).one_sided  # no count: dropped, as before
    assert anthropic_upstream.parse_usage({"input_tokens": 3}).output_missing
    assert anthropic_upstream.parse_usage({"output_tokens": 3}).prompt_missing
    assert not anthropic_upstream.parse_usage({"input_tokens": 3, "output_tokens": 1}).one_sided
    none = anthropic_upstream.parse_usage(None)
    assert none.prompt_missing and none.output_missing


def _alerted(rig: Rig, model: str) -> list[dict[str, Any]]:
    alerts = rig.get("/arbiter/alerts").json()["data"]
    return [a for a in alerts if a["kind"] == "usage_dropped" and a.get("model") == model]


def _priced_on_both_sides(rig: Rig, record: dict[str, Any], model: str, fault: str) -> None:
    """The decision's cost is its two counts at the model's prices, and the side the upstream
    gave is its own count: never the other side billed as 0."""
    pin, pout = PRICES[model]
    prompt, output = record["prompt_tokens"], record["completion_tokens"]
    assert prompt > 0 and output > 0, record
    assert record["cost_usd"] == pytest.approx((prompt * pin + output * pout) / 1e6), record
    if fault == "onlyprompt":
        assert prompt == PROMPT_TOKENS, record
    elif fault == "onlyoutput":
        assert output == COMPLETION_TOKENS, record
    assert _alerted(rig, model), rig.get("/arbiter/alerts").json()


@pytest.mark.parametrize("fault", ["onlyprompt", "onlyoutput"])
def test_a_chat_completion_with_one_count(rig: Rig, fault: str) -> None:
    rig.up.reset(oa_1=fault)
    before = rig.snapshot()
    raw = rig.gpt.chat.completions.with_raw_response.create(
        model="oa-1", messages=[{"role": "user", "content": "Say ok."}], max_tokens=MAX_TOKENS
    )
    answer = strict(raw.parse())
    assert answer.choices[0].message.content == ANSWER
    # the client reads whole counts too (relayed_usage.py: Arbiter's where the upstream's lacked)
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0, answer.usage
    decision = raw.headers["x-arbiter-decision-id"]
    record = check_books(rig, before, decision, "ok", whole=False, counted=True)
    _priced_on_both_sides(rig, record, "oa-1", fault)


@pytest.mark.parametrize("fault", ["onlyprompt", "onlyoutput"])
def test_a_chat_stream_whose_usage_chunk_has_one_count(rig: Rig, fault: str) -> None:
    rig.up.reset(oa_1=fault)
    before = rig.snapshot()
    raw = rig.gpt.chat.completions.with_raw_response.create(
        model="oa-1", messages=[{"role": "user", "content": "Say ok."}], max_tokens=MAX_TOKENS,
        stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    text, usage = "", None
    for chunk in raw.parse():
        text += "".join(c.delta.content or "" for c in chunk.choices)
        usage = chunk.usage or usage
    assert text == ANSWER
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0, usage
    decision = raw.headers["x-arbiter-decision-id"]
    record = check_books(rig, before, decision, "ok", whole=False, counted=True)
    _priced_on_both_sides(rig, record, "oa-1", fault)


@pytest.mark.parametrize("fault", ["onlyprompt", "onlyoutput"])
def test_an_anthropic_message_with_one_count(rig: Rig, fault: str) -> None:
    rig.up.reset(an_1=fault)
    before = rig.snapshot()
    raw = rig.claude.messages.with_raw_response.create(
        model="an-1", messages=[{"role": "user", "content": "Say ok."}], max_tokens=MAX_TOKENS
    )
    message = strict(raw.parse())
    assert message.content[0].text == ANSWER
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage
    decision = raw.headers["x-arbiter-decision-id"]
    record = check_books(rig, before, decision, "ok", whole=False, counted=True)
    _priced_on_both_sides(rig, record, "an-1", fault)


@pytest.mark.parametrize("fault", ["absurd", "onlyprompt", "onlyoutput"])
def test_a_passthrough_completion_with_counts_that_are_no_counts(rig: Rig, fault: str) -> None:
    rig.up.reset(oa_2=fault)  # oa-2: its own alert clock (one alert per model each 10 minutes)
    before = rig.snapshot()
    raw = rig.gpt.completions.with_raw_response.create(
        model="oa-2", prompt="Say ok.", max_tokens=MAX_TOKENS
    )
    answer = strict(raw.parse())
    assert answer.choices[0].text == ANSWER
    # the client reads counts it can bill by (the SDK's type requires both), as chat's do
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0, answer.usage
    decision = raw.headers["x-arbiter-decision-id"]
    record = check_books(rig, before, decision, "ok", whole=False, counted=True)
    _priced_on_both_sides(rig, record, "oa-2", fault)


@pytest.mark.parametrize("fault", ["absurd", "onlyprompt"])
def test_a_passthrough_completion_stream_with_counts_that_are_no_counts(
    rig: Rig, fault: str
) -> None:
    rig.up.reset(oa_2=fault)
    before = rig.snapshot()
    raw = rig.gpt.completions.with_raw_response.create(
        model="oa-2", prompt="Say ok.", max_tokens=MAX_TOKENS, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    for _ in raw.parse():
        pass
    decision = raw.headers["x-arbiter-decision-id"]
    record = check_books(rig, before, decision, "ok", whole=False, counted=True)
    _priced_on_both_sides(rig, record, "oa-2", fault)


def test_embeddings_with_their_prompt_count_alone_are_billed_exactly(rig: Rig) -> None:
    """An embeddings list counts no output by design: no alert, the upstream's count billed."""
    rig.up.reset(em_1="onlyprompt")
    before = rig.snapshot()
    raw = rig.gpt.embeddings.with_raw_response.create(model="em-1", input=["one", "two"])
    assert len(strict(raw.parse()).data) == 2
    check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=True)
    assert not _alerted(rig, "em-1")


def test_embeddings_with_a_count_that_is_no_count(rig: Rig) -> None:
    """-5 prompt tokens: priced on the prompt as Arbiter counts it, the operator told."""
    rig.up.reset(em_1="absurd")
    before = rig.snapshot()
    raw = rig.gpt.embeddings.with_raw_response.create(model="em-1", input=["one", "two"])
    out = strict(raw.parse())
    assert out.usage.prompt_tokens > 0, out.usage  # Arbiter's count shown (relayed_usage.py)
    record = check_books(
        rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=False, counted=True
    )
    assert record["prompt_tokens"] > 0 and record["completion_tokens"] == 0, record
    assert record["cost_usd"] == pytest.approx(record["prompt_tokens"] * PRICES["em-1"][0] / 1e6)
    assert _alerted(rig, "em-1"), rig.get("/arbiter/alerts").json()
