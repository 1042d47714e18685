"""An upstream usage holding a negative token count, read by a client of another shape (the
Responses API, or chat and Messages translated from the other protocol): the client read 0 for
that count (the decoder's `count_in` makes a count that is no count 0, and 0 is within every
limit), where a same-protocol client reads Arbiter's own counts (relayed_usage.py). Now the
translated client reads Arbiter's counts too: the prompt as counted, the answer estimated."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process

NEGATIVE_OA = {"prompt_tokens": -7, "completion_tokens": -5, "total_tokens": -12}
NEGATIVE_AN = {"input_tokens": -7, "output_tokens": -5}
USER = [{"role": "user", "content": "Say hi to everyone in the room, please."}]
ANSWER = "Hi there, everyone in the room."


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


# the mock's `openai-reply` answers the JSON it is given whatever the protocol; `replay` a stream
MODELS = (
    ("oa-mock", "openai", "openai-reply"),
    ("an-mock", "anthropic", "openai-reply"),
    ("oas-mock", "openai", "replay"),
)


def _models(mock: AnthropicMock) -> Any:

    def edit(text: str) -> str:
        out = text
        for protocol in ("openai", "anthropic"):
            base = f"{mock.base_url}/v1" if protocol == "openai" else mock.base_url
            out += (
                f'\n[upstreams.mock-{protocol}]\nbase_url = "{base}"\nprotocol = "{protocol}"\n'
                f'api_key_env = "{API_KEY_ENV}"\n'
            )
        for name, protocol, behaviour in MODELS:
            out += (
                f'[models.{name}]\nupstream = "mock-{protocol}"\n'
                f'upstream_model = "{behaviour}"\n'
                "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
                'capabilities = ["chat", "no-route"]\n'
            )
        return out

    return edit


def _oa_reply() -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER},
                     "finish_reason": "stop"}],
        "usage": NEGATIVE_OA,
    }  # fmt: skip


def _an_reply() -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": ANSWER}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": NEGATIVE_AN,
    }  # fmt: skip


def _oa_stream() -> bytes:
    def chunk(**fields: Any) -> bytes:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        return b"data: " + orjson.dumps({**base, **fields}) + b"\n\n"

    delta = {"index": 0, "delta": {"role": "assistant", "content": ANSWER}, "finish_reason": None}
    stop = {"index": 0, "delta": {}, "finish_reason": "stop"}
    return (
        chunk(choices=[delta]) + chunk(choices=[stop]) + chunk(choices=[], usage=NEGATIVE_OA)
        + b"data: [DONE]\n\n"
    )  # fmt: skip


def _counts(usage: dict[str, Any]) -> tuple[int, int]:
    """(prompt, output) of any surface's usage object."""
    prompt = usage.get("input_tokens", usage.get("prompt_tokens"))
    output = usage.get("output_tokens", usage.get("completion_tokens"))
    return int(prompt), int(output)


def _sse_usages(text: str) -> list[dict[str, Any]]:
    """Every usage object in an SSE body (Responses' response.completed, Messages' deltas)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = orjson.loads(line[6:])
        for holder in (event, event.get("response") or {}, event.get("message") or {}):
            if isinstance(holder.get("usage"), dict):
                out.append(holder["usage"])
    return out


# (the model, what its upstream answers, the client's path, the request body's extra fields)
CASES = {
    "responses-from-openai": ("oa-mock", "reply", "/v1/responses", {}),
    "responses-from-anthropic": ("an-mock", "reply", "/v1/responses", {}),
    "messages-from-openai": ("oa-mock", "reply", "/v1/messages", {"max_tokens": 200}),
    "chat-from-anthropic": ("an-mock", "reply", "/v1/chat/completions", {}),
    "responses-stream-from-openai": ("oas-mock", "stream", "/v1/responses", {"stream": True}),
    "messages-stream-from-openai": (
        "oas-mock", "stream", "/v1/messages", {"stream": True, "max_tokens": 200},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_negative_count_reads_as_arbiters_count_not_zero(
    tmp_path: Path, mock: AnthropicMock, case: str
) -> None:
    model, kind, path, extra = CASES[case]
    if kind == "stream":
        mock.replay_body = _oa_stream()
    else:
        mock.openai_reply = _oa_reply() if model == "oa-mock" else _an_reply()
    body: dict[str, Any] = {"model": model, **extra}
    if path == "/v1/responses":
        body["input"] = USER[0]["content"]
    else:
        body["messages"] = USER

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_models(mock)) as sc:
            headers = {**sc.auth, "anthropic-version": "2023-06-01"}
            r = await sc.client.post(path, json=body, headers=headers)
            assert r.status_code == 200, r.text
            usages = [r.json()["usage"]] if kind == "reply" else _sse_usages(r.text)
            assert usages, r.text
            # Arbiter's counts: the prompt as counted (a dozen tokens), the answer estimated
            # (a Messages stream says its prompt at message_start, its output at the end)
            prompt = max(_counts(u)[0] for u in usages)
            output = _counts(usages[-1])[1]
            assert prompt > 0 and output > 0, (case, usages)

    asyncio.run(main())
