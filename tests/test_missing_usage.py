"""One rule for an answer whose usage lacks counts, whole or streamed (money21).

A whole answer with no usage at all billed its worst case (every choice at the output limit:
~80x the bill here), while one with one side missing or counts that are no counts was priced
from what it relayed; Anthropic streams without a final output count (or any usage) and OpenAI
streams without a usage chunk (an upstream that ignores `stream_options.include_usage`) billed
their worst case too. Now an answer that finished (every finish reason given, a Message's stop
reason, a stream's `[DONE]` / message_stop) is priced from what it relayed in every one of these
states, with the `usage_dropped` alert, and counted in `arbiter_usage_dropped_total` every time
(the alert: once per model each 10 minutes); one that did not finish, or was cut, keeps its
worst case. Anthropic cache counts without `input_tokens` are the input, billed as they came.
A real `arbiter serve`, the official SDKs, the scripted upstream billing 11 prompt and 7 output
tokens per answer (tests/fault_upstream.py) whether it says so or not."""

from __future__ import annotations

import re
from typing import Any

import pytest

from arbiter.types import Usage
from arbiter.upstream import anthropic as anthropic_upstream
from arbiter.upstream import openai as openai_upstream
from arbiter.upstream.usage_counts import of_answer
from tests.fault_upstream import WORDS
from tests.probe19a_harness import (  # noqa: F401  (the fixtures)
    PRICES,
    Rig,
    check_books,
    rig_fixture,
    rigs_fixture,
    strict,
)

ANSWER = "".join(WORDS)
MAX_TOKENS = 1000  # the worst case: ~80x the bill, so a call priced at it fails `counted`
ASK = [{"role": "user", "content": "Say ok."}]


def test_which_usages_are_counted_by_arbiter() -> None:
    """What a usage lacks is Arbiter's to count only for an answer that finished."""
    none = openai_upstream.parse_usage({"choices": []}, None)
    assert none.prompt_missing and none.output_missing  # no usage at all: both sides
    assert of_answer(none, True) is none
    assert of_answer(none, False) == Usage()  # no counts believed: its worst case
    one = openai_upstream.parse_usage({"usage": {"prompt_tokens": 5}}, None)
    assert of_answer(one, False) == Usage()  # not the prompt alone either
    full = openai_upstream.parse_usage(
        {"usage": {"prompt_tokens": 5, "completion_tokens": 2}}, None
    )
    assert of_answer(full, False) is full  # whole counts are the bill, finished or not
    reported = Usage(reported_cost_usd=0.5, prompt_missing=True, output_missing=True)
    assert of_answer(reported, False).reported_cost_usd == 0.5
    finished = openai_upstream.choices_finished
    assert finished({"choices": [{"finish_reason": "stop"}, {"finish_reason": "length"}]})
    assert not finished({"choices": [{"finish_reason": "stop"}, {"finish_reason": None}]})
    assert not finished({"choices": [{"finish_reason": ""}]})
    assert finished({"object": "list", "data": []})  # embeddings: no choices to finish
    # Anthropic's cache counts are input: a usage with them and no `input_tokens` is whole
    cached = anthropic_upstream.parse_usage({"cache_read_input_tokens": 9, "output_tokens": 3})
    assert not cached.one_sided and cached.prompt_tokens == 9 and cached.cache_read_tokens == 9
    written = anthropic_upstream.parse_usage({"cache_creation_input_tokens": 4})
    assert written.output_missing and not written.prompt_missing


def _worst_output_usd(model: str) -> float:
    return MAX_TOKENS * PRICES[model][1] / 1e6


def _dropped(rig: Rig) -> dict[tuple[str, str], float]:
    """arbiter_usage_dropped_total by (model, missing)."""
    out: dict[tuple[str, str], float] = {}
    for line in rig.get("/metrics").text.splitlines():
        if line.startswith("arbiter_usage_dropped_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out[(labels["model"], labels["missing"])] = float(line.rsplit(" ", 1)[1])
    return out


def _ask(rig: Rig, surface: str, model: str, *, stream: bool = False) -> str:
    """One request through `surface`'s SDK, read to its end; its decision id."""
    if surface == "messages":
        raw: Any = rig.claude.messages.with_raw_response.create(
            model=model, messages=ASK, max_tokens=MAX_TOKENS, stream=stream,  # type: ignore[arg-type]
        )  # fmt: skip
        if stream:
            text = "".join(
                e.delta.text
                for e in raw.parse()
                if e.type == "content_block_delta" and e.delta.type == "text_delta"
            )
        else:
            message = strict(raw.parse())
            text = message.content[0].text
            # the SDK's type requires both counts: Arbiter's where the upstream gave none
            # (none uncached where it counted the cache alone: `input_tokens: 0`, its reads kept)
            u = message.usage
            assert u.input_tokens + (u.cache_read_input_tokens or 0) > 0 and u.output_tokens > 0
    elif surface == "chat":
        raw = rig.gpt.chat.completions.with_raw_response.create(
            model=model, messages=ASK, max_tokens=MAX_TOKENS, stream=stream,  # type: ignore[arg-type]
        )  # fmt: skip
        if stream:  # the client did not ask for usage: the upstream sent none either
            text = "".join(c.delta.content or "" for ch in raw.parse() for c in ch.choices)
        else:
            text = raw.parse().choices[0].message.content
    else:
        raw = rig.gpt.completions.with_raw_response.create(
            model=model, prompt="Say ok.", max_tokens=MAX_TOKENS, stream=stream
        )
        if stream:  # the scripted upstream streams chat-shaped chunks: read to the end
            for _ in raw.parse():
                pass
            return str(raw.headers["x-arbiter-decision-id"])
        text = strict(raw.parse()).choices[0].text
    assert text == ANSWER, text
    return str(raw.headers["x-arbiter-decision-id"])


CELLS = [
    (surface, model, stream)
    for stream in (False, True)
    for surface, model in (("chat", "oa-1"), ("messages", "an-1"), ("completions", "oa-2"))
]


@pytest.mark.parametrize(("surface", "model", "stream"), CELLS)
def test_an_answer_without_usage_that_finished_is_priced_from_what_it_relayed(
    rig: Rig, surface: str, model: str, stream: bool
) -> None:
    """No usage at all (an OpenAI stream: no usage chunk, include_usage ignored; an Anthropic
    stream: none on message_start nor message_delta): near the bill, never its worst case."""
    rig.up.reset(**{model.replace("-", "_"): "nousage"})
    before, dropped = rig.snapshot(), _dropped(rig)
    decision = _ask(rig, surface, model, stream=stream)
    record = check_books(rig, before, decision, "ok", whole=False, counted=True)
    assert record["cost_usd"] < _worst_output_usd(model) / 10, record
    assert record["prompt_tokens"] > 0 and record["completion_tokens"] > 0, record
    # counted every time, by what the usage lacked (the alert itself: once per 10 minutes)
    assert _dropped(rig).get((model, "both"), 0) == dropped.get((model, "both"), 0) + 1


@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_a_whole_answer_without_usage_nor_finish_reason_keeps_its_worst_case(
    rig: Rig, surface: str
) -> None:
    """A lenient server's answer with no finish reason and no usage: nothing says it ended, so
    nothing bounds what was generated (the control: as before)."""
    model = "oa-1" if surface == "chat" else "an-1"
    rig.up.reset(**{model.replace("-", "_"): "nofinish"})
    before, dropped = rig.snapshot(), _dropped(rig)
    if surface == "chat":
        raw: Any = rig.gpt.chat.completions.with_raw_response.create(
            model=model, messages=ASK, max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
        )  # fmt: skip
        assert raw.parse().choices[0].message.content == ANSWER
    else:
        raw = rig.claude.messages.with_raw_response.create(
            model=model, messages=ASK, max_tokens=MAX_TOKENS,  # type: ignore[arg-type]
        )  # fmt: skip
        assert strict(raw.parse()).content[0].text == ANSWER
    record = check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=False)
    assert record["cost_usd"] >= _worst_output_usd(model), record
    assert _dropped(rig) == dropped


@pytest.mark.parametrize("finish", [True, False])
def test_an_openai_stream_with_its_usage_is_billed_by_it_with_or_without_a_finish_reason(
    rig: Rig, finish: bool
) -> None:
    """`[DONE]` and the whole usage, with every finish reason or none (a lenient server's
    stream): the stream without one fails (nothing says the model ended: its error event, a
    failed decision), but the upstream's own whole count is what it charged for all it
    generated, so both are billed exactly that (usage_counts.of_answer), not the worst case."""
    rig.up.reset(oa_1="ok" if finish else "countednofinish")
    before, dropped = rig.snapshot(), _dropped(rig)
    text, failed = "", False
    try:
        for chunk in rig.gpt.chat.completions.create(
            model="oa-1", messages=ASK, max_tokens=MAX_TOKENS, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        ):  # fmt: skip
            text += "".join(c.delta.content or "" for c in chunk.choices)
    except Exception as err:  # the stream's error event, in the surface's shape
        assert "openai" in type(err).__module__, err
        failed = True
    assert failed is not finish and text == ANSWER, text
    decision = rig.get("/arbiter/decisions?limit=1").json()["data"][0]["id"]
    record = check_books(rig, before, decision, "ok" if finish else "failed", whole=True)
    assert (record["prompt_tokens"], record["completion_tokens"]) == (11, 7), record
    assert _dropped(rig) == dropped  # nothing counted by Arbiter


@pytest.mark.parametrize(("surface", "model", "at"), [("chat", "oa-1", 6), ("chat", "oa-1", 7),
                                                      ("messages", "an-1", 9)])  # fmt: skip
def test_a_cut_stream_without_usage_keeps_its_worst_case(
    rig: Rig, surface: str, model: str, at: int
) -> None:
    """Reset before its end (OpenAI: before the finish chunk, then before [DONE]; Anthropic:
    after message_delta, before message_stop): a failed decision at its worst case."""
    rig.up.reset(**{model.replace("-", "_"): f"nousagereset@{at}"})
    before = rig.snapshot()
    try:
        _ask(rig, surface, model, stream=True)
    except Exception as err:  # the stream's error event, in the surface's shape
        assert "anthropic" in type(err).__module__ or "openai" in type(err).__module__, err
    decision = rig.get("/arbiter/decisions?limit=1").json()["data"][0]["id"]
    record = check_books(rig, before, decision, "failed", whole=False)
    assert record["cost_usd"] >= _worst_output_usd(model), record


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_cache_counts_without_input_tokens_are_its_input(rig: Rig, stream: bool) -> None:
    """`cache_read_input_tokens: 11` and no `input_tokens`: the prompt was read from the cache,
    none uncached. Billed exactly as the upstream counted (no cache price configured: the input
    price); was priced as a usage missing its input (whole) or at its worst case (stream)."""
    rig.up.reset(an_1="cacheonly")
    before, dropped = rig.snapshot(), _dropped(rig)
    decision = _ask(rig, "messages", "an-1", stream=stream)
    record = check_books(rig, before, decision, "ok", whole=True)
    assert record["prompt_tokens"] == 11 and record["completion_tokens"] == 7, record
    assert _dropped(rig) == dropped  # nothing counted by Arbiter: no usage_dropped


def test_cache_counts_without_input_tokens_as_the_client_reads_them(rig: Rig) -> None:
    """The client reads the counts it was billed by: an Anthropic client the cache reads with
    `input_tokens: 0` (the SDK's type requires one: it was Arbiter's whole prompt count, the
    cache reads dropped), an OpenAI client of the same model the 11 as `prompt_tokens` (it
    was Arbiter's prompt count plus the 11, the prompt counted twice)."""
    rig.up.reset(an_1="cacheonly")
    message = strict(
        rig.claude.messages.create(model="an-1", messages=ASK, max_tokens=MAX_TOKENS)  # type: ignore[arg-type]
    )
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (0, 11)
    assert message.usage.output_tokens == 7, message.usage
    usage = None
    for chunk in rig.gpt.chat.completions.create(
        model="an-1", messages=ASK, max_tokens=MAX_TOKENS, stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    ):  # fmt: skip
        usage = chunk.usage or usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (11, 7), usage


def test_every_answer_without_counts_is_counted_though_the_alert_is_limited(rig: Rig) -> None:
    rig.up.reset(oa_1="nousage")
    dropped = _dropped(rig)
    for _ in range(3):
        _ask(rig, "chat", "oa-1")
    assert _dropped(rig).get(("oa-1", "both"), 0) == dropped.get(("oa-1", "both"), 0) + 3
    alerts = rig.get("/arbiter/alerts").json()["data"]
    mine = [a for a in alerts if a["kind"] == "usage_dropped" and a.get("model") == "oa-1"]
    assert len(mine) == 1, mine  # one per model each 10 minutes
