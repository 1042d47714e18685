"""Outside probe (seventeenth session): the anthropic SDK's (2.17) MessageParam includes
SystemMessageParam, a `role: "system"` message inside `messages` (content: a string or text
blocks). Arbiter answered every such request 400 "messages.0.role: Input should be 'user' or
'assistant'", so a request the SDK types and Anthropic take never reached a model. Now a
Claude model gets the client's own body (the system messages where they were) and another
protocol's model gets their text as system text, as chat's system messages are carried; the
errors name the client's own message numbers (a system message before them used to shift them)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks
from tests.test_signals_choices import completion, text

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": "Say hello."},
    {"role": "assistant", "content": "Bonjour."},
    {"role": "system", "content": [{"type": "text", "text": "Now in German."}]},
    {"role": "user", "content": "Again."},
]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _both(mock: AnthropicMock) -> Callable[[str], str]:
    """claude-mock (Anthropic's protocol) and oa-mock (OpenAI's), both on the mock."""
    claude = _with_mock(mock, "anthropic", "text", model="claude-mock")

    def edit(text: str) -> str:
        return claude(text) + (
            f'\n[upstreams.mock-openai]\nbase_url = "{mock.base_url}/v1"\nprotocol = "openai"\n'
            f'api_key_env = "{API_KEY_ENV}"\n'
            '[models.oa-mock]\nupstream = "mock-openai"\nupstream_model = "openai-reply"\n'
            "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
            'capabilities = ["chat", "no-route"]\n'
        )

    return edit


@pytest.mark.parametrize("stream", [False, True])
def test_system_messages_reach_a_claude_model_as_they_came(
    tmp_path: Path, mock: AnthropicMock, stream: bool
) -> None:
    mock.requests.clear()

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_both(mock)) as sc,
            sdks(sc) as (claude, _),
        ):
            request: Any = {"model": "claude-mock", "max_tokens": 50, "messages": MESSAGES}
            if stream:
                async with claude.messages.stream(**request, system="Be brief.") as s:
                    answer = await s.get_final_message()
            else:
                answer = await claude.messages.create(**request, system="Be brief.")
            assert answer.content[0].type == "text" and answer.content[0].text
            count = await claude.messages.count_tokens(model="claude-mock", messages=MESSAGES)
            assert count.input_tokens > 0

    asyncio.run(main())
    sent = [body for _, body in mock.requests if body.get("max_tokens")]
    assert sent[0]["messages"] == MESSAGES and sent[0]["system"] == "Be brief."


def test_system_messages_reach_an_openai_model_as_system_text(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.requests.clear()
    mock.openai_reply = completion(text("Hallo."))

    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=_both(mock)) as sc,
            sdks(sc) as (claude, _),
        ):
            answer = await claude.messages.create(
                model="oa-mock", max_tokens=50, messages=MESSAGES, system="Be brief."
            )  # type: ignore[arg-type]
            assert answer.content[0].type == "text" and answer.content[0].text == "Hallo."
            # streamed, from the simulator's OpenAI-protocol model
            async with claude.messages.stream(
                model="sim-small", max_tokens=50, messages=MESSAGES
            ) as s:  # type: ignore[arg-type]
                assert await s.get_final_text()

    asyncio.run(main())
    sent = mock.requests[-1][1]["messages"]
    systems = [m["content"] for m in sent if m["role"] == "system"]
    assert systems == ["Be brief.", "Answer in French.", "Now in German."], sent
    assert [m["role"] for m in sent if m["role"] != "system"] == ["user", "assistant", "user"]


# messages, the param the 400 names
BAD: dict[str, tuple[list[dict[str, Any]], str]] = {
    "only-system": ([{"role": "system", "content": "x"}], "messages"),
    "empty-system": ([{"role": "system", "content": ""}, MESSAGES[1]], "messages.0"),
    "image-in-system": (
        [{"role": "system", "content": [{"type": "image"}]}, MESSAGES[1]],
        "messages.0.content.0.type",
    ),
    "unknown-field": (
        [{"role": "system", "content": "x", "name": "bob"}, MESSAGES[1]],
        "messages.0.name",
    ),
    "clear-at-next-turn": (
        [{"role": "system", "content": "x", "clear_at": "next_user_message"}, MESSAGES[1]],
        "messages.0.clear_at",
    ),
    # the tool_result is the client's message 1: the system message before it is counted
    "numbering-kept": (
        [
            {"role": "system", "content": "x"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ],
        "messages.1.content.0",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_system_message_is_the_callers_400_naming_it(
    tmp_path: Path, mock: AnthropicMock, case: str
) -> None:
    messages, param = BAD[case]
    mock.requests.clear()

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_both(mock)) as sc:
            body = {"model": "claude-mock", "max_tokens": 50, "messages": messages}
            r = await sc.client.post("/v1/messages", headers=sc.anthropic, json=body)
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert message.startswith(param + ":"), message

    asyncio.run(main())
    assert mock.requests == []


def test_default_beta_fields_of_a_system_message_change_nothing(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    messages = [{"role": "system", "content": "x", "clear_at": "never"}, MESSAGES[1]]

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_both(mock)) as sc:
            body = {"model": "claude-mock", "max_tokens": 50, "messages": messages}
            r = await sc.client.post("/v1/messages", headers=sc.anthropic, json=body)
            assert r.status_code == 200, r.text

    asyncio.run(main())
