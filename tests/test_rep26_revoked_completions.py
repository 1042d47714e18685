"""rep26: a pass-through /v1/completions stream running when its key is revoked ran on (chat
and Messages streams were cut: test_left25_revoked_stream.py): relay.forward was given no key
for it. Two replicas on one PostgreSQL store; the key is revoked through replica A while the
stream runs on replica B (its upstream stalled after the first words): B's next sync ends it
with one OpenAI error event, no [DONE], recorded failed and billed what was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.pg import empty_store_url
from tests.test_left25_revoked_stream import SYNC_MS, revoked_mid_stream

pytestmark = pytest.mark.postgres
CHUNK = {
    "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "text": "Hello", "logprobs": None, "finish_reason": None}],
}  # fmt: skip
CHAT_CHUNK = {
    "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"},
                 "finish_reason": None}],
}  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _config(mock: AnthropicMock) -> Any:
    """`oa-stall`: an OpenAI model whose completion stream sends "Hello", then nothing."""
    model = _with_mock(mock, "openai", "stall-pieces", model="oa-stall")

    def edit(text: str) -> str:
        text = text.replace("[store]\n", f"[store]\nsync_interval_ms = {SYNC_MS}\n", 1)
        return model(text)

    return edit


@pytest.mark.parametrize("surface", ["completions", "responses"])
def test_a_key_revoked_on_another_replica_ends_its_completions_stream(
    tmp_path: Path, mock: AnthropicMock, surface: str
) -> None:
    """(Responses to a named model, routed_stream's relay, was cut already: kept as a check.)"""
    chunk = CHUNK if surface == "completions" else CHAT_CHUNK
    mock.replay_pieces = [b"data: " + orjson.dumps(chunk) + b"\n\n"]

    async def main() -> None:
        with empty_store_url("postgres", tmp_path / "unused.db") as url:
            (tmp_path / "a").mkdir()
            (tmp_path / "b").mkdir()
            async with (
                sidecar_in_process(tmp_path / "a", edit_config=_config(mock), store_url=url) as a,
                sidecar_in_process(tmp_path / "b", edit_config=_config(mock), store_url=url) as b,
            ):
                body: dict[str, Any] = {"model": "oa-stall", "stream": True}
                if surface == "completions":
                    body |= {"max_tokens": 500, "prompt": "Tell me a long story."}
                else:
                    body |= {"max_output_tokens": 500, "input": "Tell me a long story."}
                events, data, decision_id = await revoked_mid_stream(a, b, f"/v1/{surface}", body)
                last = data[-1]
                if surface == "completions":
                    assert data[0]["choices"][0]["text"] == "Hello", data[0]
                    assert "error" in last and "revoked" in last["error"]["message"], data[-3:]
                else:
                    assert last["type"] == "response.failed", data[-3:]
                    assert "revoked" in last["response"]["error"]["message"], last
                assert b"data: [DONE]" not in events
                await asyncio.to_thread(b.services.recorder.flush, 5.0)
                r = await b.client.get(f"/arbiter/decisions/{decision_id}", headers=b.admin)
                d = r.json()
                assert d["status"] == "failed", d
                if surface == "completions":
                    assert d["mode"] == "passthrough", d
                worst = (500 * 2.0 + 200 * 1.0) / 1e6
                assert 0 < d["cost_usd"] < worst / 2, d

    asyncio.run(main())
