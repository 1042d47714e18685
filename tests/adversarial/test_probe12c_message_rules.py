"""Outside probe (twelfth session, c): three Anthropic `/v1/messages` rules the sidecar let
through to a Claude model, so the same body was answered when `auto` picked an OpenAI model and
refused (Anthropic's 400, after routing and the budget reservation) when it picked Claude:
- `thinking.type` other than enabled/disabled/adaptive, or none at all (Anthropic: a tagged
  union, its 400 names the tag);
- an assistant prefill as the last message with extended thinking enabled (Anthropic: a final
  assistant message must then start with a thinking block);
- a final assistant message (a prefill) ending in whitespace (Anthropic: "final assistant content
  cannot end with trailing whitespace"; only a Claude model takes a prefill, so `auto` too);
- an empty text block beside other content, in a message or in `system` (Anthropic: text content
  blocks must be non-empty).
Each is now the caller's 400 in Anthropic's shape naming the field, before any upstream call;
the neighbours that Anthropic takes still answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.inproc import InProcess, run_with_claude
from tests.sdk_clients import sdks, sim_requests

ASK: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
PREFILL: Any = [*ASK, {"role": "assistant", "content": "The weather in Paris is"}]
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}
BAD: dict[str, tuple[dict[str, Any], str]] = {  # case: (body fields, what the message starts with)
    "thinking-unknown-type": ({"thinking": {"type": "bogus"}}, "thinking.type:"),
    "thinking-no-type": ({"thinking": {}}, "thinking.type:"),
    "prefill-with-thinking": ({"messages": PREFILL, "thinking": THINKING}, "messages.1"),
    "prefill-trailing-space": (
        {"messages": [*ASK, {"role": "assistant", "content": "The weather is "}]},
        "messages:",
    ),
    "prefill-trailing-newline-block": (
        {
            "messages": [
                *ASK,
                {"role": "assistant", "content": [{"type": "text", "text": "The weather is\n"}]},
            ]
        },
        "messages:",
    ),
    "empty-text-block": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": ""}, {"type": "text", "text": "Hello?"}],
                }
            ]
        },
        "messages.0.content.0.text:",
    ),
    "empty-system-block": (
        {"system": [{"type": "text", "text": ""}, {"type": "text", "text": "Be brief."}]},
        "system.0.text:",
    ),
}
GOOD: dict[str, dict[str, Any]] = {
    "thinking-disabled": {"thinking": {"type": "disabled"}},
    "thinking-adaptive": {"thinking": {"type": "adaptive"}},
    "prefill-without-thinking": {"messages": PREFILL},
    "thinking-prefill-starting-with-thinking": {
        "thinking": THINKING,
        "messages": [
            *ASK,
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "Paris.", "signature": "c2ln"}],
            },
        ],
    },
    "system-empty-list": {"system": []},
    "system-empty-string": {"system": ""},
    "empty-final-assistant": {"messages": [*ASK, {"role": "assistant", "content": ""}]},
}


async def _create(claude: anthropic.AsyncAnthropic, model: str, fields: dict[str, Any]) -> Any:
    body = {"messages": ASK, **fields}
    typed = {k: v for k, v in body.items() if k in ("messages", "system", "thinking")}
    return await claude.messages.create(model=model, max_tokens=2048, **typed)


@pytest.mark.parametrize("case", list(BAD))
def test_what_anthropic_refuses_is_a_400_before_any_call(tmp_path: Path, case: str) -> None:
    fields, starts = BAD[case]

    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            before = await sim_requests(sc)
            for model in ("sim-medium", "auto", "sim-small"):  # Claude, routed, OpenAI
                with pytest.raises(anthropic.BadRequestError) as info:
                    await _create(claude, model, fields)
                err = info.value.body
                assert isinstance(err, dict) and err["error"]["type"] == "invalid_request_error"
                assert err["error"]["message"].startswith(starts), err
            assert await sim_requests(sc) == before, "nothing reached an upstream"

    run_with_claude(tmp_path, body)


@pytest.mark.parametrize("case", list(GOOD))
def test_what_anthropic_takes_still_answers(tmp_path: Path, case: str) -> None:
    async def body(sc: InProcess) -> None:
        async with sdks(sc) as (claude, _):
            answer = await _create(claude, "sim-medium", GOOD[case])
            assert answer.content, answer

    run_with_claude(tmp_path, body)
