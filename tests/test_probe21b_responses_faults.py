"""probe21b: a Responses API stream translated from an Anthropic upstream that breaks mid-stream
(reset after any frame, a malformed event; stalls are the relay's, protocol-blind, and
probe19a's), through the openai SDK against a real `arbiter serve` (probe19a's fault rig, whose
matrix covers OpenAI upstreams): the SDK sees the text so far and then a clear end
(`response.failed` with an error, or an error raised), never a `response.completed` of a cut
answer; the decision is recorded once, and the books (budget, /metrics) move by its cost, as
tests/probe19a_harness.check_books checks every cell."""

from __future__ import annotations

import openai
import pytest

from tests.fault_upstream import WORDS
from tests.probe19a_harness import Rig, check_books, rig_fixture, rigs_fixture, strict  # noqa: F401  (the fixtures)

ANSWER = "".join(WORDS)


# Anthropic frames: message_start 0, content_block_start 1, text deltas 2-6, content_block_stop
# 7, message_delta 8 (the usage), message_stop 9
@pytest.mark.parametrize(
    "fault", ["ok", "reset@0", "reset@1", "reset@3", "reset@8", "reset@9", "malformed@3"],
)  # fmt: skip
def test_a_responses_stream_from_anthropic_under_a_fault(rig: Rig, fault: str) -> None:
    rig.up.reset(an_1=fault)
    before = rig.snapshot()
    text, kinds = "", []
    try:
        raw = rig.gpt.responses.with_raw_response.create(
            model="an-1", input="Say hello.", stream=True
        )
    except openai.APIStatusError as err:  # failed before the first byte: an error answer
        assert err.status_code >= 400 and err.status_code != 500, err
        check_books(rig, before, err.response.headers["x-arbiter-decision-id"], "failed",
                    whole=True)  # fmt: skip
        return
    failed = None
    try:
        for event in raw.parse():
            strict(event)
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.failed":
                failed = event.response
    except openai.APIError as err:
        assert err.message, err
    assert ANSWER.startswith(text), text
    terminal = [k for k in kinds if k in ("response.completed", "response.failed",
                                          "response.incomplete")]  # fmt: skip
    assert len(terminal) <= 1, kinds
    whole = terminal == ["response.completed"]
    assert whole == (fault == "ok"), kinds
    if failed is not None:  # what was streamed, so the client can show it
        assert kinds[-2:] == ["error", "response.failed"], kinds
        assert failed.error is not None and failed.error.message
        shown = "".join(p.text for o in failed.output if o.type == "message"
                        for p in o.content if p.type == "output_text")  # fmt: skip
        assert shown == text
    check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok" if whole else "failed",
                whole=whole)  # fmt: skip
