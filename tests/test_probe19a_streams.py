"""probe19a: streams under every fault, at every event, through the official SDKs against a real
`arbiter serve` (tests/probe19a_harness.py).

OpenAI chat streams with `stream_options.include_usage` (frames: 0 role, 1-5 text, 6 finish,
7 usage, 8 [DONE]) and Anthropic message streams (0 message_start, 1 content_block_start, 2-6
deltas, 7 content_block_stop, 8 message_delta, 9 message_stop), each with the upstream's
connection reset before frame k, a malformed SSE line in place of frame k, a stall at frame k,
for `model: auto` (failover allowed while nothing went out) and named. Each cell: the text the
client read is a prefix of the one answer (never a second answer spliced after a failover that
came too late), a stream that ended properly is ok and whole, one that did not is a failed
decision, and the books agree.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.fault_upstream import WORDS
from tests.probe19a_harness import Rig, check_books, rig_fixture, rigs_fixture, strict  # noqa: F401  (the fixtures)

ANSWER = "".join(WORDS)
MESSAGES = [{"role": "user", "content": "Say hello to the probe."}]
OPENAI_FAULTS = [f"{k}@{i}" for k in ("reset", "malformed", "midstall") for i in range(9)]
OPENAI_FAULTS += [
    "ok",
    "html",
    "nousage",
    "absurd",
    "status@429",
    "status@429:1",
    "status@529",
    "stall@10",
]
ANTHROPIC_FAULTS = [f"{k}@{i}" for k in ("reset", "malformed") for i in range(10)]
ANTHROPIC_FAULTS += ["ok", "html", "nousage", "absurd", "midstall@3", "status@529:1", "status@429"]


def _books(
    rig: Rig, before: object, decision_id: str, whole_answer: bool, fault: str = ""
) -> dict[str, object]:
    """A whole answer is an ok decision (billed exactly, unless its usage was missing or absurd:
    then priced from what it relayed, near the bill); a cut one is a failed decision."""
    status = "ok" if whole_answer else "failed"
    exact = whole_answer and fault not in ("nousage", "absurd")
    counted = whole_answer and fault in ("absurd", "nousage")  # priced from what it relayed
    return check_books(rig, before, decision_id, status, whole=exact,  # type: ignore[arg-type]
                       counted=counted)  # fmt: skip


# n > 1: the resets only (the other faults read the same per choice)
STREAM_CELLS = [(f, 1) for f in OPENAI_FAULTS] + [
    (f, 2) for f in OPENAI_FAULTS if f.startswith("reset")
]


@pytest.mark.parametrize("model", ["auto", "oa-1"])
@pytest.mark.parametrize(("fault", "n"), STREAM_CELLS)
def test_an_openai_stream_under_a_fault(rig: Rig, fault: str, model: str, n: int) -> None:
    rig.up.reset(oa_1=fault)
    before = rig.snapshot()
    client = rig.gpt
    texts = [""] * n
    done = False
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES, stream=True, n=n,
            stream_options={"include_usage": True},
        )  # fmt: skip
    except openai.APIStatusError as err:  # failed before the first byte: a whole error
        assert err.status_code != 500 and err.status_code >= 400, err
        assert err.response.json()["error"]["message"], err.response.text
        if ":" in fault and model == "oa-1":  # the upstream's Retry-After reaches the client
            assert "retry-after" in err.response.headers, err.response.headers
        _books(rig, before, err.response.headers["x-arbiter-decision-id"], False)
        return
    decision_id = raw.headers["x-arbiter-decision-id"]
    usage = None
    try:
        for chunk in raw.parse():
            strict(chunk)
            for c in chunk.choices:
                texts[c.index] += c.delta.content or ""
            usage = chunk.usage or usage
        done = True
    except openai.APIError as err:  # the stream's error event, in OpenAI's shape
        assert "error" in str(err.body) or err.message, err
    for text in texts:
        assert ANSWER.startswith(text), (texts, raw.headers)
    whole = done and all(t == ANSWER for t in texts)
    record = _books(rig, before, decision_id, whole, fault)
    if usage is not None:  # a count that is no count (absurd: -5, 10^13) is not shown as one
        counts = (usage.prompt_tokens, usage.completion_tokens)
        assert all(0 <= v <= 10**8 for v in counts), usage
    if whole and fault != "nousage":
        assert usage is not None, "include_usage asked, the stream ended without its usage"
    if not fault.startswith(("ok", "html")) and model == "oa-1":
        assert rig.up.calls, rig.up.calls
    assert record


@pytest.mark.parametrize("fault", ANTHROPIC_FAULTS)
def test_an_anthropic_stream_under_a_fault(rig: Rig, fault: str) -> None:
    rig.up.reset(an_1=fault)
    before = rig.snapshot()
    client = rig.claude
    text, done = "", False
    try:
        resp = client.messages.with_raw_response.create(
            model="an-1",
            max_tokens=64,
            messages=MESSAGES,
            stream=True,  # type: ignore[arg-type]
        )
    except anthropic.APIStatusError as err:
        assert err.status_code != 500 and err.status_code >= 400, err
        body = err.response.json()
        assert body["type"] == "error" and body["error"]["message"], body
        if ":" in fault:
            assert "retry-after" in err.response.headers, err.response.headers
        _books(rig, before, err.response.headers["x-arbiter-decision-id"], False)
        return
    decision_id = resp.headers["x-arbiter-decision-id"]
    try:
        for event in resp.parse():
            strict(event)
            if event.type in ("message_start", "message_delta"):  # no count that is no count
                usage = event.message.usage if event.type == "message_start" else event.usage
                counts = usage.to_dict()
                assert all(0 <= v <= 10**8 for k, v in counts.items() if k.endswith("tokens")), (
                    usage
                )
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
            if event.type == "message_stop":
                done = True
    except anthropic.APIError as err:  # an `error` event, in Anthropic's shape
        assert err.message, err
    assert ANSWER.startswith(text), text
    _books(rig, before, decision_id, done and text == ANSWER, fault)


CROSS = [("anthropic-sdk", "oa-1", f) for f in (*(f"reset@{i}" for i in range(9)), "malformed@3",
         "nousage", "absurd", "ok")] + [
    ("openai-sdk", "an-1", f) for f in (*(f"reset@{i}" for i in range(10)), "malformed@4",
     "nousage", "absurd", "ok")]  # fmt: skip


@pytest.mark.parametrize(("client", "model", "fault"), CROSS)
def test_a_translated_stream_under_a_fault(rig: Rig, client: str, model: str, fault: str) -> None:
    """A stream translated between the protocols (an Anthropic client on an OpenAI-protocol model,
    and the reverse) under the same faults: well-formed events, a prefix of the one answer,
    counts that are counts, the books."""
    rig.up.reset(**{model.replace("-", "_"): fault})
    before = rig.snapshot()
    text, done = "", False
    try:
        if client == "anthropic-sdk":
            resp = rig.claude.messages.with_raw_response.create(
                model=model,
                max_tokens=64,
                messages=MESSAGES,
                stream=True,  # type: ignore[arg-type]
            )
        else:
            resp = rig.gpt.chat.completions.with_raw_response.create(  # type: ignore[assignment]
                model=model, messages=MESSAGES, stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )  # fmt: skip
    except (anthropic.APIStatusError, openai.APIStatusError) as err:
        assert err.status_code != 500 and err.status_code >= 400, err
        _books(rig, before, err.response.headers["x-arbiter-decision-id"], False)
        return
    decision_id = resp.headers["x-arbiter-decision-id"]
    try:
        for event in resp.parse():
            strict(event)
            if client == "openai-sdk":
                text += "".join(c.delta.content or "" for c in event.choices)
                if event.usage is not None:
                    counts = (event.usage.prompt_tokens, event.usage.completion_tokens)
                    assert all(0 <= v <= 10**8 for v in counts), event.usage
                    done = True  # the usage chunk comes last, once the answer ended properly
                continue
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
            if event.type == "message_delta":
                assert 0 <= event.usage.output_tokens <= 10**8, event.usage
            done = done or event.type == "message_stop"
    except (anthropic.APIError, openai.APIError) as err:
        assert err.message, err
    assert ANSWER.startswith(text), text
    _books(rig, before, decision_id, done and text == ANSWER, fault)
