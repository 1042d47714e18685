"""probe27c: the Responses surface under `auto` with a cascade on, against the cascade's faults,
and chat streams with `n` > 1 that break; on a real `arbiter serve` in front of probe22a's
scripted upstream (both protocols on one port), the official `openai` SDK as the client.
probe27b's pool: an-1 (Anthropic protocol, the cascade's first model), oa-1, oa-2 (the
baseline, 500x dearer) and an-2; `routing.cascade_all` for extraction, whose short first answer
escalates. Every cell checks the bill: the global cap's spend moves by the decision's
`billed_usd`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.probe22a_rig import Reply, Rig, default_reply, rig, sse
from tests.test_probe27b_cascade_faults import EXTRACT, called, config, mark

LONG = "word " * 200  # ~200 tokens: a bill that counted it is plain beside one that did not


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("p27c")), config) as made:
        yield made


def spent(r: Rig) -> float:
    rows = r.sidecar.admin("GET", "/arbiter/budgets", timeout=10).json()["data"]
    return float(sum(row["spent_usd"] for row in rows if row["scope"] == "global"))


def billed_as_spent(r: Rig, before: float, decision: dict[str, Any]) -> None:
    """The cap's spend moved by the decision's bill (settled a moment after it is recorded)."""
    deadline = time.monotonic() + 5
    while abs(spent(r) - before - decision["billed_usd"]) > 1e-9:
        assert time.monotonic() < deadline, (spent(r) - before, decision["billed_usd"])
        time.sleep(0.05)


def _cheap(reply: Reply) -> Any:
    """an-1 (the cascade's first model, the only Anthropic-protocol one asked) answers
    `reply`; the OpenAI-protocol models answer."""

    def fn(path: str, body: dict[str, Any]) -> Reply:
        return reply if path.endswith("/messages") else default_reply(path, body)

    return fn


def _escalation(reply: Reply, wait_s: float = 0.0) -> Any:
    """an-1 answers (short: escalated); the OpenAI-protocol models answer `reply`."""

    def fn(path: str, body: dict[str, Any]) -> Reply:
        if path.endswith("/messages"):
            return default_reply(path, body)
        time.sleep(wait_s)
        return reply

    return fn


DOWN = Reply({"error": {"message": "down", "type": "server_error"}}, status=500)
AN_500 = Reply({"type": "error", "error": {"type": "api_error", "message": "x"}}, status=500)
CASES = {
    "control": (default_reply, ["an-1", "oa-2"], "escalated", "a short answer"),
    "cheap 500": (
        _cheap(AN_500),
        ["an-1", "oa-2"], "escalated", "an-1 500, failed (upstream_unavailable)",
    ),
    "cheap malformed": (
        _cheap(Reply(b"{not json")), ["an-1", "oa-2"], "escalated",
        "an-1 502, failed (upstream_error)",
    ),
    "escalation 500": (
        _escalation(DOWN), ["an-1", "oa-2", "oa-1"], "first-answer-served",
        "the escalation failed (upstream_unavailable): an-1's first answer served",
    ),
    "escalation malformed": (
        _escalation(Reply(b"{broken")), ["an-1", "oa-2", "oa-1"], "first-answer-served",
        "the escalation failed (upstream_error): an-1's first answer served",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_responses_cascade_under_a_fault_is_a_response_billed_once(r: Rig, case: str) -> None:
    """Whatever fails, the client gets a completed Response of the answer
    served, the reason says what happened and the cap is charged the decision's bill."""
    fn, models, cascade, said = CASES[case]
    name, m = mark(r, fn)
    before = spent(r)
    raw = r.oa.responses.with_raw_response.create(model="auto", input=EXTRACT + m)
    got = raw.parse()
    assert (got.status, got.output_text) == ("completed", "ok")
    assert called(r, name) == models
    assert raw.headers["x-arbiter-cascade"] == cascade
    decision = r.decision(raw.headers["x-arbiter-decision-id"])
    assert said in decision["reason"], decision["reason"]
    billed_as_spent(r, before, decision)


def test_the_client_leaving_during_the_escalation_is_billed_both_calls(r: Rig) -> None:
    """The client's SDK times out while the escalated call runs: the decision
    says `client_disconnected`, the cheap call billed as answered and the abandoned one at its
    worst case, the cap charged exactly that; no third call is made."""
    name, m = mark(r, _escalation(Reply({}), wait_s=1.5))
    before = spent(r)
    with pytest.raises(openai.APITimeoutError):
        r.oa.with_options(timeout=0.8).responses.create(model="auto", input=EXTRACT + m)
    deadline = time.monotonic() + 5
    while (rows := r.sidecar.admin("GET", "/arbiter/decisions?limit=1").json()["data"]) and (
        rows[0]["error"] != "client_disconnected"
    ):
        assert time.monotonic() < deadline, rows[0]
        time.sleep(0.05)
    decision = r.decision(rows[0]["id"])
    tried = [(a["model"], a["error"], a["billed"]) for a in decision["attempts"]]
    assert tried == [("an-1", "escalated: a short answer (1 < 100 tokens)", None),
                     ("oa-2", "cancelled", True)]  # fmt: skip
    assert called(r, name) == ["an-1", "oa-2"]
    billed_as_spent(r, before, decision)


def _all_down(path: str, body: dict[str, Any]) -> Reply:
    return AN_500 if path.endswith("/messages") else DOWN


@pytest.mark.parametrize("surface", ["responses", "chat"])
def test_an_escalation_after_a_failed_cheap_try_never_goes_back_to_it(r: Rig, surface: str) -> None:
    """Every model answers 500: the cheap try's an-1 failed, and the escalation called oa-2,
    an-1 again, then oa-1 (ARCHITECTURE: the escalation "never back to the cheap one";
    `retries_per_model = 0`). Now each model once; the client gets a 503 in OpenAI's shape,
    nothing is charged."""
    name, m = mark(r, _all_down)
    before = spent(r)
    with pytest.raises(openai.APIStatusError) as caught:
        if surface == "responses":
            r.oa.responses.create(model="auto", input=EXTRACT + m)
        else:
            r.oa.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": EXTRACT + m}]
            )
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "upstream_unavailable"  # type: ignore[index]
    assert called(r, name) == ["an-1", "oa-2", "oa-1"]
    decision = r.decision(caught.value.response.headers["x-arbiter-decision-id"])
    assert [a["model"] for a in decision["attempts"]] == ["an-1", "oa-2", "oa-1"]
    assert decision["billed_usd"] == 0.0
    billed_as_spent(r, before, decision)


def _no_usage(path: str, body: dict[str, Any]) -> Reply:
    """A lenient server's answer with no `usage` at all: 50 words, ~40 tokens."""
    text = "ok " * 50
    if path.endswith("/messages"):
        return Reply({"id": "msg", "type": "message", "role": "assistant", "model": "x",
                      "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                      "stop_sequence": None})  # fmt: skip
    return Reply({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                               "finish_reason": "stop"}]})  # fmt: skip


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_an_answer_without_usage_shows_the_counts_it_was_billed_by(r: Rig, model: str) -> None:
    """The upstream sends no usage: the call is billed from what it relayed (the prompt as
    counted, the answer estimated), but a Response (whole from either protocol, streamed from
    an OpenAI one), a chat answer from an-1 and a messages answer from oa-1 said 0 and 0 (an
    Anthropic stream and a same-protocol chat stream showed Arbiter's counts already). Each now
    shows the counts it was billed by; chat from oa-1 is relayed as it came (no usage)."""
    _, m = mark(r, _no_usage)
    shown = []
    whole = r.oa.responses.create(model=model, input="hi" + m)
    assert whole.usage is not None
    shown.append((whole.usage.input_tokens, whole.usage.output_tokens))
    events = list(r.oa.responses.create(model=model, input="hi" + m, stream=True))
    done = events[-1]
    assert done.type == "response.completed" and done.response.usage is not None
    shown.append((done.response.usage.input_tokens, done.response.usage.output_tokens))
    if model == "an-1":
        chat = r.oa.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi" + m}]
        )
        assert chat.usage is not None
        shown.append((chat.usage.prompt_tokens, chat.usage.completion_tokens))
    else:
        message = r.an.messages.create(
            model=model, max_tokens=100, messages=[{"role": "user", "content": "hi" + m}]
        )
        shown.append((message.usage.input_tokens, message.usage.output_tokens))
    assert all(prompt > 0 and 30 <= out <= 60 for prompt, out in shown), shown


HEAD = {"id": "chatcmpl-p27c", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
    return sse(None, {**HEAD, "choices": [{"index": index, "delta": delta,
                                           "finish_reason": finish}]})  # fmt: skip


def _two_choices(r: Rig, frames: list[bytes]) -> tuple[list[Any], str, dict[str, Any]]:
    """An n = 2 stream to oa-1 answered `frames`: what the client read (the chunks, then the
    error it ended on, if any), the decision and its bill as spent."""
    _, m = mark(r, lambda path, body: Reply(frames=frames))
    before = spent(r)
    raw = r.oa.chat.completions.with_raw_response.create(
        model="oa-1", n=2, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say hi." + m}],
    )  # fmt: skip
    got: list[Any] = []
    ended = "[DONE]"
    try:
        got.extend(raw.parse())
    except openai.APIError as err:
        ended = str(err)
    decision = r.decision(raw.headers["x-arbiter-decision-id"])
    billed_as_spent(r, before, decision)
    return got, ended, decision


def test_two_choices_both_finished_without_usage_end_clean_billed_as_relayed(r: Rig) -> None:
    """The control of the next cell: both choices finish, no usage sent; the
    stream ends with [DONE] and Arbiter's usage chunk, the call billed from what it relayed."""
    frames = [_chunk(0, {"role": "assistant", "content": "hi"}),
              _chunk(1, {"role": "assistant", "content": LONG}),
              _chunk(0, {}, "stop"), _chunk(1, {}, "stop"), b"data: [DONE]\n\n"]  # fmt: skip
    got, ended, decision = _two_choices(r, frames)
    assert ended == "[DONE]"
    assert decision["status"] == "ok"
    assert got[-1].usage is not None and got[-1].usage.completion_tokens > 200
    assert decision["billed_usd"] < 0.002  # ~200 tokens out at $4/M, not the worst case


def test_one_choice_left_unfinished_ends_the_stream_in_an_error(r: Rig) -> None:
    """Choice 0 finishes, choice 1 never does, then [DONE]: for n = 1 a stream without its
    finish reason ends in an error event (a failed decision); here it ended clean, with
    Arbiter's usage chunk saying ~250 tokens, while the call was billed its worst case
    (~2,000 tokens) as an unfinished answer, and recorded `ok`. Now it ends as n = 1's does."""
    frames = [_chunk(0, {"role": "assistant", "content": "hi"}),
              _chunk(1, {"role": "assistant", "content": LONG}),
              _chunk(0, {}, "stop"), b"data: [DONE]\n\n"]  # fmt: skip
    got, ended, decision = _two_choices(r, frames)
    assert ended == "oa-1: the stream ended without choice 1's finish reason", ended
    assert all(chunk.usage is None for chunk in got)  # no count the bill does not keep
    assert (decision["status"], decision["error"]) == ("failed", "upstream_error")


def test_two_choices_cut_or_malformed_end_in_an_error_billed_once(r: Rig) -> None:
    """Cut after one choice finished, or a malformed chunk: an error event,
    a failed decision, its worst case charged once."""
    opened = [_chunk(0, {"role": "assistant", "content": "hi"}),
              _chunk(1, {"role": "assistant", "content": LONG})]  # fmt: skip
    for tail, said in (
        ([_chunk(0, {}, "stop")], "oa-1: the stream ended before its end event"),
        ([b"data: {broken\n\n"], "oa-1: malformed chunk in the stream"),
    ):
        _, ended, decision = _two_choices(r, opened + tail)
        assert ended == said
        assert (decision["status"], decision["attempts"][-1]["billed"]) == ("failed", True)


def test_a_stray_choice_is_neither_relayed_nor_billed(r: Rig) -> None:
    """A chunk for index 5 of an n = 2 stream carrying ~200 tokens: the
    client gets choices 0 and 1 only, and the usage Arbiter counts (none sent) is theirs."""
    frames = [_chunk(0, {"role": "assistant", "content": "hi"}),
              _chunk(1, {"role": "assistant", "content": "yo"}), _chunk(5, {"content": LONG}),
              _chunk(0, {}, "stop"), _chunk(1, {}, "stop"), b"data: [DONE]\n\n"]  # fmt: skip
    got, ended, decision = _two_choices(r, frames)
    assert ended == "[DONE]"
    assert {c.index for chunk in got for c in chunk.choices} == {0, 1}
    usage = next(chunk.usage for chunk in got if chunk.usage is not None)
    assert usage.completion_tokens == 2
    assert decision["billed_usd"] < 0.0001


def test_zz_a_cheap_429_escalates_and_says_so(r: Rig) -> None:
    """Last in the module (it pauses an-1 for 30 s). an-1 answers 429 with Retry-After 30:
    the Response is oa-2's, the reason names the 429, nothing is charged for the refusal."""
    limited = {"type": "error", "error": {"type": "rate_limit_error", "message": "x"}}
    fn = _cheap(Reply(limited, status=429, headers={"retry-after": "30"}))
    name, m = mark(r, fn)
    before = spent(r)
    raw = r.oa.responses.with_raw_response.create(model="auto", input=EXTRACT + m)
    assert raw.parse().output_text == "ok"
    assert called(r, name) == ["an-1", "oa-2"]
    decision = r.decision(raw.headers["x-arbiter-decision-id"])
    assert "an-1 429, failed (upstream_rate_limited), escalated" in decision["reason"]
    assert decision["attempts"][0]["billed"] is False
    billed_as_spent(r, before, decision)
