"""A stream running when its key was revoked ran to its end, billed (probe24b): a user expects a
revoked key to stop. Two replicas on one PostgreSQL store: the key is revoked through replica A
while its stream runs on replica B (its upstream stalled after the first words); B's next sync
ends the stream with one error event in the surface's shape, and the call is recorded and
billed what was sent (not its worst case)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.adversarial.test_probe2_client_gone import post_scope
from tests.anthropic_mock import AnthropicMock
from tests.inproc import InProcess, sidecar_in_process
from tests.pg import empty_store_url

pytestmark = pytest.mark.postgres
SYNC_MS = 200


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _config(mock: AnthropicMock) -> Any:
    """`an-stall`: an Anthropic model whose stream sends its first words, then nothing."""

    def edit(text: str) -> str:
        text = text.replace("[store]\n", f"[store]\nsync_interval_ms = {SYNC_MS}\n", 1)
        return text + (
            f'\n[upstreams.mock-an]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
            f'api_key_env = "{API_KEY_ENV}"\n'
            '[models.an-stall]\nupstream = "mock-an"\nupstream_model = "stall"\n'
            "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
            'capabilities = ["chat", "no-route"]\n'
        )

    return edit


async def _stream(
    sc: InProcess, path: str, body: dict[str, Any], began: asyncio.Event
) -> tuple[bytes, str]:
    """Drive the app as uvicorn would for a client reading a stream to its end (httpx's ASGI
    transport hands a stream over whole): its bytes and its decision id; `began` set at "Hello"."""
    raw = orjson.dumps(body)
    scope = post_scope(sc, path, len(raw))
    done = asyncio.Event()
    out: list[bytes] = []
    headers: dict[str, str] = {}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
            headers.update((k.decode(), v.decode()) for k, v in message["headers"])
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))
            if b"Hello" in b"".join(out):
                began.set()
            if not message.get("more_body"):
                done.set()

    await sc.app(scope, receive, send)
    return b"".join(out), headers["x-arbiter-decision-id"]


async def revoked_mid_stream(
    a: InProcess, b: InProcess, path: str, body: dict[str, Any]
) -> tuple[list[bytes], list[dict[str, Any]], str]:
    """A stream on replica B whose upstream stalls after its first words, its key revoked
    through replica A: its lines, its JSON events and its decision id, once it ended (within
    10 s of the revocation: the stall lasts 60 s, the read timeout 30 s, so only the cut ends
    it that soon)."""
    key_id = b.api_key.split("-")[1]
    began = asyncio.Event()
    streaming = asyncio.ensure_future(_stream(b, path, body, began))
    await asyncio.wait_for(began.wait(), 20)  # the first words have come
    revoked = await a.client.delete(f"/arbiter/admin/keys/{key_id}", headers=a.admin)
    assert revoked.status_code == 200, revoked.text
    loop = asyncio.get_running_loop()
    start = loop.time()
    text, decision_id = await asyncio.wait_for(streaming, 25)
    took = loop.time() - start
    assert took < 10, took
    events = text.split(b"\n")
    data = [orjson.loads(e[6:]) for e in events if e.startswith(b"data: {")]
    return events, data, decision_id


@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_a_key_revoked_on_another_replica_ends_its_running_stream(
    tmp_path: Path, mock: AnthropicMock, surface: str
) -> None:
    async def main() -> None:
        with empty_store_url("postgres", tmp_path / "unused.db") as url:
            (tmp_path / "a").mkdir()
            (tmp_path / "b").mkdir()
            async with (
                sidecar_in_process(tmp_path / "a", edit_config=_config(mock), store_url=url) as a,
                sidecar_in_process(tmp_path / "b", edit_config=_config(mock), store_url=url) as b,
            ):
                assert b.services.settings.store.sync_interval_ms == SYNC_MS
                path = "/v1/chat/completions" if surface == "chat" else "/v1/messages"
                body = {
                    "model": "an-stall", "stream": True, "max_tokens": 500,
                    "messages": [{"role": "user", "content": "Tell me a long story."}],
                }  # fmt: skip
                events, data, decision_id = await revoked_mid_stream(a, b, path, body)
                last = data[-1]
                if surface == "chat":
                    assert "error" in last, data[-3:]
                    assert "revoked" in last["error"]["message"], last
                else:
                    assert last["type"] == "error", data[-3:]
                    assert "revoked" in last["error"]["message"], last
                assert b"data: [DONE]" not in events
                # recorded and billed what was sent: more than nothing, less than 500 tokens out
                await asyncio.to_thread(b.services.recorder.flush, 5.0)
                r = await b.client.get(f"/arbiter/decisions/{decision_id}", headers=b.admin)
                d = r.json()
                assert d["status"] == "failed", d
                worst = (500 * 2.0 + 200 * 1.0) / 1e6
                assert 0 < d["cost_usd"] < worst / 2, d

    asyncio.run(main())
