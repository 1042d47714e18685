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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.protocols import anthropic, compat, openai
from arbiter.protocols.anthropic_encode import encode_request
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
