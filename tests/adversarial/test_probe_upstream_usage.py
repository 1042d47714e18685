"""Outside probe: an OpenAI-protocol upstream whose `usage` holds negative token counts (a buggy
proxy, a provider's accounting glitch). Arbiter priced them as they came: the call cost
-$1,000, the decision was recorded at that, and the settle took $1,000 off the cap's spend, so
the cap stopped capping. A count that is not a positive integer is no usage: the call is settled
at its worst case, as any call the upstream gave no usage for (the Anthropic side already
treated such counts so)."""

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
from tests.inproc import InProcess, sidecar_in_process
from tests.waiting import until_async

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 10.0\n'
NEGATIVE = {"prompt_tokens": -1_000_000_000, "completion_tokens": -5, "total_tokens": -5}
USER = [{"role": "user", "content": "Say hi."}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def with_mock(mock: AnthropicMock, behaviour: str) -> Any:
    """`oa-mock`: an OpenAI-protocol model served by the mock (`behaviour` picks its answer)."""

    def edit(text: str) -> str:
        return (
            text
            + CAP
            + (
                f'\n[upstreams.mockoa]\nbase_url = "{mock.base_url}/v1"\nprotocol = "openai"\n'
                f'api_key_env = "{API_KEY_ENV}"\n'
                f'[models.oa-mock]\nupstream = "mockoa"\nupstream_model = "{behaviour}"\n'
                "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
                'capabilities = ["chat", "no-route"]\n'
            )
        )

    return edit


async def spent(sc: InProcess) -> float:
    """The cap's spend once the call is settled (its reservation released, off the path)."""
    caps: list[dict[str, Any]] = []

    async def settled() -> bool:
        r = await sc.client.get("/arbiter/budgets", headers=sc.admin)
        [cap] = r.json()["data"]
        caps.append(cap)
        return bool(cap["reserved_usd"] <= 1e-12)

    await until_async(settled, "the call's reservation was never settled")
    return float(caps[-1]["spent_usd"])


def run(
    tmp_path: Path, mock: AnthropicMock, behaviour: str, path: str, body: dict[str, Any]
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_mock(mock, behaviour)) as sc:
            r = await sc.client.post(path, json=body, headers=sc.auth)
            assert r.status_code == 200, r.text
            # a stream's headers leave before its cost is known: they name the worst case
            named = "x-arbiter-cost-usd-reserved" if body.get("stream") else "x-arbiter-cost-usd"
            assert float(r.headers[named]) > 0
            assert await spent(sc) > 0

    asyncio.run(main())


def test_negative_usage_in_an_answer_is_not_a_credit(tmp_path: Path, mock: AnthropicMock) -> None:
    mock.openai_reply = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."},
                     "finish_reason": "stop"}],
        "usage": NEGATIVE,
    }  # fmt: skip
    run(
        tmp_path,
        mock,
        "openai-reply",
        "/v1/chat/completions",
        {"model": "oa-mock", "messages": USER},
    )


def test_negative_usage_in_a_stream_is_not_a_credit(tmp_path: Path, mock: AnthropicMock) -> None:
    def chunk(**fields: Any) -> bytes:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        return b"data: " + orjson.dumps({**base, **fields}) + b"\n\n"

    delta = {"index": 0, "delta": {"role": "assistant", "content": "Hi."}, "finish_reason": None}
    stop = {"index": 0, "delta": {}, "finish_reason": "stop"}
    mock.replay_body = (
        chunk(choices=[delta]) + chunk(choices=[stop]) + chunk(choices=[], usage=NEGATIVE)
        + b"data: [DONE]\n\n"
    )  # fmt: skip
    body = {"model": "oa-mock", "messages": USER, "stream": True}
    run(tmp_path, mock, "replay", "/v1/chat/completions", body)


def test_negative_usage_of_an_embedding_is_not_a_credit(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = {
        "object": "list", "model": "m",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, 0.5]}],
        "usage": {"prompt_tokens": -1_000_000_000, "total_tokens": -1_000_000_000},
    }  # fmt: skip
    run(tmp_path, mock, "openai-reply", "/v1/embeddings", {"model": "oa-mock", "input": "hi"})
