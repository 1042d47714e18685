"""Outside probe (eighteenth session, spec-driven fuzz): an OpenAI chat request that Arbiter lets
cross to an Anthropic model was encoded into a body Anthropic refuses, so the caller got the
upstream's 400 (`upstream_rejected`, no field named) for a request OpenAI takes:
- a second system (or developer) message with empty content became an empty text block in
  Anthropic's `system` ("system.1.text: text content blocks must be non-empty");
- a final assistant message ending in whitespace became a prefill Anthropic refuses ("final
  assistant content cannot end with trailing whitespace"); to an OpenAI client it is an earlier
  turn, whose trailing whitespace means nothing.

The property: whatever message list the OpenAI decoder takes and `untranslatable` lets cross, the
Anthropic body it is encoded to passes Arbiter's own reading of Anthropic's request rules
(`protocols.anthropic.decode_request`, what the sim upstream enforces too); bounded hypothesis
run, derandomized. Then end to end: those requests are answered by the Claude-protocol model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from arbiter.errors import InvalidRequest
from arbiter.protocols import anthropic, compat, openai
from arbiter.protocols.anthropic_encode import encode_request
from arbiter.protocols.openai import encode_request as encode_openai
from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import check_completion

TEXTS = st.sampled_from(["", " ", "\n", "x", "x ", " x", "hi\n\n", "\u00a0", "😀"])
CONTENT = st.one_of(
    TEXTS,
    st.lists(TEXTS.map(lambda t: {"type": "text", "text": t}), min_size=1, max_size=3),
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": CONTENT}
)


@settings(max_examples=400, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(messages=st.lists(MESSAGE, min_size=1, max_size=5))
def test_every_crossing_openai_request_encodes_to_a_body_anthropic_takes(
    messages: list[dict[str, Any]],
) -> None:
    canonical = openai.decode_request({"model": "m", "messages": messages})
    if compat.untranslatable(canonical, "anthropic") is not None:
        return  # refused by name (or routed elsewhere), never sent
    body = encode_request(canonical, "claude", default_max_tokens=64)
    anthropic.decode_request(body)  # raises InvalidRequest where Anthropic answers 400


ANSWERED: list[Any] = [
    [{"role": "system", "content": "Be brief."}, {"role": "system", "content": ""},
     {"role": "user", "content": "What is the capital of France?"}],
    [{"role": "developer", "content": "Be brief."}, {"role": "developer", "content": [
        {"type": "text", "text": ""}]}, {"role": "user", "content": "Capital of France?"}],
    [{"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "  "}],
    [{"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "The capital is \n"}],
]  # fmt: skip


@pytest.mark.parametrize("messages", ANSWERED, ids=range(len(ANSWERED)))
def test_such_requests_are_answered_by_the_claude_model(
    tmp_path: Path, messages: list[dict[str, Any]]
) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/v1/chat/completions",
            json={"model": "sim-medium", "messages": messages},  # sim-medium speaks Anthropic's
            headers=sc.auth,
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-arbiter-model"] == "sim-medium"
        check_completion(r.content)  # OpenAI's spec and SDK type

    run_with_claude(tmp_path, body)


# The other direction: Anthropic merges consecutive turns of one role, so its clients may send
# two assistant messages in a row, the first with a tool call; OpenAI wants each assistant
# message with tool_calls followed by its `tool` messages (400 otherwise), as Arbiter's own
# reading of OpenAI's rules (`protocols.openai.decode_request`) says.
BLOCKS = st.one_of(
    st.sampled_from(["", "x", "x "]).map(lambda t: {"type": "text", "text": t}),
    st.sampled_from(["toolu_1", "toolu_2"]).map(
        lambda i: {"type": "tool_use", "id": i, "name": "f", "input": {}}
    ),
    st.sampled_from(["toolu_1", "toolu_2"]).map(
        lambda i: {"type": "tool_result", "tool_use_id": i, "content": "ok"}
    ),
)
TURN = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant"]),
     "content": st.one_of(st.sampled_from(["x", "hi"]), st.lists(BLOCKS, min_size=1, max_size=3))}
)  # fmt: skip


@settings(max_examples=400, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(messages=st.lists(TURN, min_size=1, max_size=5))
@example(messages=[  # the case a longer run (3,000 examples) found
    {"role": "user", "content": "x"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f",
                                       "input": {}}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2", "name": "f",
                                       "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2"},
                                 {"type": "tool_result", "tool_use_id": "toolu_1"}]},
])  # fmt: skip
def test_every_crossing_anthropic_request_encodes_to_a_body_openai_takes(
    messages: list[dict[str, Any]],
) -> None:
    body = {"model": "m", "max_tokens": 64, "messages": messages,
            "tools": [{"name": "f", "input_schema": {"type": "object"}}]}  # fmt: skip
    try:
        canonical = anthropic.decode_request(body)
    except InvalidRequest:
        return  # Anthropic's 400 too: never sent
    if compat.untranslatable(canonical, "openai") is not None:
        return
    openai.decode_request(encode_openai(canonical, "gpt"))  # raises where OpenAI answers 400


def test_consecutive_assistant_turns_reach_an_openai_model_as_one(tmp_path: Path) -> None:
    messages = [
        {"role": "user", "content": "Look up both."},
        {"role": "assistant", "content": "Looking."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f",
                                           "input": {}}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_2", "name": "f",
                                           "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "two"}]},
    ]  # fmt: skip
    canonical = anthropic.decode_request({"model": "m", "max_tokens": 64, "messages": messages})
    sent = encode_openai(canonical, "gpt")["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"], sent
    assert sent[1]["content"] == "Looking."
    assert [c["id"] for c in sent[1]["tool_calls"]] == ["toolu_1", "toolu_2"]
