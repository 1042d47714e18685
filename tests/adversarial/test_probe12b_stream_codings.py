"""Outside probe (twelfth session): an upstream (or a proxy in front of it) that compresses its
SSE stream.

Arbiter sends no Accept-Encoding upstream, which RFC 9110 12.5.3 reads as "any coding is
acceptable"; a server may then answer `Content-Encoding: gzip`. A whole JSON answer was decoded
(httpx's reader), but a stream was split into lines from the raw compressed bytes: no line was
ever `data:`, and the answer failed as "stream ended before any content" (a 502, retried, and
counted against the model's circuit), where the same answer uncompressed streamed fine. The
stream now reads decoded bytes when the answer names a content coding."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from pathlib import Path

import orjson
import pytest

from tests.adversarial.hostile_upstream import scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(60)


def _sse() -> bytes:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    deltas = [{"role": "assistant", "content": "Hel"}, {"content": "lo"}, {}]
    events = [
        {**base, "choices": [{"index": 0, "delta": d, "finish_reason": "stop" if not d else None}]}
        for d in deltas
    ]
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    events.append({**base, "choices": [], "usage": usage})
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def _chunked(body: bytes, size: int = 40) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
ANSWERS = {
    "gzip": HEAD + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(
        gzip.compress(_sse())
    ) + gzip.compress(_sse()),
    "gzip-chunked": HEAD + b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
    + _chunked(gzip.compress(_sse())),
    "deflate": HEAD + b"content-encoding: deflate\r\ntransfer-encoding: chunked\r\n\r\n"
    + _chunked(zlib.compress(_sse())),
    "identity": HEAD + b"content-length: %d\r\n\r\n" % len(_sse()) + _sse(),  # the control
}  # fmt: skip


@pytest.mark.parametrize("coding", list(ANSWERS))
def test_a_compressed_sse_stream_is_decoded(tmp_path: Path, coding: str) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(ANSWERS[coding])

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, _),
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(port)) as sc,
        ):
            body = {
                "model": "oa-raw", "stream": True,
                "messages": [{"role": "user", "content": "Say hello."}],
            }  # fmt: skip
            async with sc.client.stream(
                "POST", "/v1/chat/completions", json=body, headers=sc.auth
            ) as r:
                text = (await r.aread()).decode()
            assert r.status_code == 200, text
            content = "".join(
                c["delta"].get("content") or ""
                for line in text.split("\n\n")
                if line.startswith("data: {")
                for c in orjson.loads(line[6:]).get("choices", [])
            )
            assert content == "Hello", text
            assert text.endswith("data: [DONE]\n\n"), text

    asyncio.run(main())
