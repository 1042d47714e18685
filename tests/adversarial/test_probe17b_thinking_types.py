"""Outside probe (seventeenth session): the anthropic SDK's (2.17) ThinkingConfigParam is a union
of four types, `enabled`, `disabled`, `adaptive` and `between_tools` (thinking only between
tool calls). Arbiter knew three and answered `{"type": "between_tools"}` with a 400 "thinking.type:
Input tag 'between_tools' does not match any of the expected tags", so a request the SDK types
never reached a model. Now it goes to a Claude model as it came; an OpenAI model, which cannot
carry it, is refused by name, and a type the SDK does not know is still the caller's 400."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

USER = [{"role": "user", "content": "Plan the trip, calling tools as you need."}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_between_tools_thinking_reaches_a_claude_model(tmp_path: Path, mock: AnthropicMock) -> None:
    mock.requests.clear()

    async def main() -> None:
        edit = _with_mock(mock, "anthropic", "text", model="claude-mock")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            answer = await claude.messages.create(
                model="claude-mock", max_tokens=50, messages=USER,  # type: ignore[arg-type]
                thinking={"type": "between_tools"},
            )  # fmt: skip
            assert answer.content[0].type == "text"
            body = {"model": "sim-small", "max_tokens": 50, "messages": USER}
            r = await sc.client.post(
                "/v1/messages", headers=sc.anthropic,
                json={**body, "thinking": {"type": "between_tools"}},
            )  # fmt: skip
            assert "cannot carry the 'thinking'" in check_anthropic_error(
                r, 400, "invalid_request_error"
            )
            r = await sc.client.post(
                "/v1/messages", headers=sc.anthropic,
                json={**body, "thinking": {"type": "sometimes"}},
            )  # fmt: skip
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert message.startswith("thinking.type:") and "between_tools" in message, message

    asyncio.run(main())
    sent = [body for _, body in mock.requests if body.get("max_tokens")]
    assert len(sent) == 1 and sent[0]["thinking"] == {"type": "between_tools"}
