"""A mock Anthropic Messages upstream: a real HTTP/1.1 server on 127.0.0.1 in its own thread.

The request's `model` picks the behaviour (so one server serves every test):
  text / tool       a normal answer (text, or a tool_use with input_json_delta fragments)
  tool-unknown      a tool_use of a function no request offers (`get_wether`)
  tool-bad-args     a get_weather tool_use whose input lacks the required `city`
  rate-limited      429 rate_limit_error with `retry-after: 7`
  overloaded        529 overloaded_error
  bad-request       400 invalid_request_error
  reset             a stream cut (connection aborted) after its first text delta
  reset-early       a stream cut after message_start and ping, before any content
  malformed-early   a stream whose first event after message_start is not JSON
  malformed         a stream whose second delta is not JSON
  overloaded-event  a stream that sends an `error` event (overloaded_error) after one delta
  no-stop           a stream that ends cleanly but without message_stop
  invalid-event-early  a stream (HTTP 200) whose first event after message_start is an `error`
                    event of type invalid_request_error (the request's fault)
  invalid-event     the same error event after one delta
  api-event-early   a stream whose first event after message_start is an api_error `error` event
  replay            answers with `replay_body` as an SSE stream, whatever was asked
  openai-reply      answers with `openai_reply` as JSON (an OpenAI chat completion, for an
                    upstream with protocol "openai": the mock ignores the path), with
                    `reply_headers` (UTF-8 on the wire)
  replay-pieces     sends `replay_pieces` as a chunked SSE stream, one piece at a time with a
                    pause between, so the client reads them one by one
  stall             a stream that sends its first text delta, then nothing (until the client
                    goes or the server stops)
  stall-pieces      sends `replay_pieces` (any protocol's SSE), then nothing, as `stall`
  leaky             401 authentication_error whose message quotes a key and a host (LEAK)
  leaky-event       a stream whose `error` event (api_error) after one delta quotes LEAK
  raw-error         400 whose body is `error_body` as it is (not JSON: an HTML page, raw text)
Every request is kept in `requests` as (headers, parsed body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

TEXT = "Hello from the mock."
LEAK = "invalid x-api-key sk-ant-api03-abc1****wxyz from 10.0.0.7"
TOOL_INPUT = {"city": "Paris", "unit": "celsius"}
USAGE = {
    "input_tokens": 21, "output_tokens": 9, "cache_read_input_tokens": 100,
    "cache_creation_input_tokens": 50,
}  # fmt: skip


_TOOL_USES = {
    "tool": ("get_weather", TOOL_INPUT),
    "tool-unknown": ("get_wether", TOOL_INPUT),
    "tool-bad-args": ("get_weather", {"unit": "celsius"}),
}


def message(model: str, kind: str) -> dict[str, Any]:
    if kind in _TOOL_USES:
        name, args = _TOOL_USES[kind]
        content: list[dict[str, Any]] = [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01", "name": name, "input": args},
        ]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": TEXT}], "end_turn"
    return {
        "id": "msg_mock1", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop, "stop_sequence": None, "usage": USAGE,
    }  # fmt: skip


def frame(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def stream_frames(model: str, kind: str) -> list[bytes]:
    """The event sequence Anthropic sends for message(model, kind)."""
    msg = message(model, kind)
    start = {**msg, "content": [], "stop_reason": None,
             "usage": {**USAGE, "output_tokens": 1}}  # fmt: skip
    out = [frame("message_start", {"type": "message_start", "message": start}),
           frame("ping", {"type": "ping"})]  # fmt: skip
    for i, block in enumerate(msg["content"]):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            words = block["text"].split(" ")
            deltas = [
                {"type": "text_delta", "text": w if j == 0 else " " + w}
                for j, w in enumerate(words)
            ]
        else:
            opening = {**block, "input": {}}
            text = json.dumps(block["input"])
            deltas = [
                {"type": "input_json_delta", "partial_json": text[k : k + 7]}
                for k in range(0, len(text), 7)
            ]
        out.append(
            frame(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": opening},
            )
        )
        out += [
            frame("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            for d in deltas
        ]
        out.append(frame("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {"stop_reason": msg["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": USAGE["output_tokens"]}
    out.append(frame("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    out.append(frame("message_stop", {"type": "message_stop"}))
    return out


def _error(kind: str, message_text: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message_text}}).encode()


class AnthropicMock:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.replay_body = b""
        self.replay_pieces: list[bytes] = []
        self.openai_reply: dict[str, Any] = {}
        self.reply_headers: dict[str, str] = {}
        self.error_body = b"bad"
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AnthropicMock:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        )
        self._server = fut.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in self._handlers:  # idle keep-alive connections would wait forever
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while True:  # keep-alive: serve requests until the client closes
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    headers = {
                        k.lower(): v.strip()
                        for k, _, v in (h.partition(":") for h in lines[1:] if h)
                    }
                    body = json.loads(
                        await reader.readexactly(int(headers.get("content-length", "0"))) or b"{}"
                    )
                    self.requests.append((headers, body))
                    if not await self._answer(writer, body):
                        return
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _answer(self, w: asyncio.StreamWriter, body: dict[str, Any]) -> bool:
        """Write the answer; False when the connection was cut on purpose."""
        model = str(body.get("model", "text"))
        if model == "rate-limited":
            return await _respond(
                w, 429, _error("rate_limit_error", "slow down"), {"retry-after": "7"}
            )
        if model == "overloaded":
            return await _respond(w, 529, _error("overloaded_error", "Overloaded"))
        if model == "bad-request":
            return await _respond(w, 400, _error("invalid_request_error", "bad"))
        if model == "raw-error":
            return await _respond(w, 400, self.error_body, {"content-type": "text/html"})
        if model == "leaky":
            return await _respond(w, 401, _error("authentication_error", LEAK))
        if model == "replay":
            return await _respond(w, 200, self.replay_body, {"content-type": "text/event-stream"})
        if model == "openai-reply":
            body = json.dumps(self.openai_reply).encode()
            return await _respond(w, 200, body, self.reply_headers)
        kind = model if model in _TOOL_USES else "text"
        if not body.get("stream"):
            return await _respond(w, 200, json.dumps(message(model, kind)).encode())
        frames = stream_frames(model, kind)
        if model in ("replay-pieces", "stall-pieces"):
            frames = self.replay_pieces
        elif model == "reset":
            frames = frames[:4]
        elif model == "reset-early":
            frames = frames[:2]
        elif model == "malformed-early":
            frames = [frames[0], b"event: content_block_start\ndata: {not json\n\n"]
        elif model == "malformed":
            frames = [*frames[:4], b"event: content_block_delta\ndata: {not json\n\n", *frames[4:]]
        elif model == "overloaded-event":
            frames = [
                *frames[:4],
                b"event: error\ndata: " + _error("overloaded_error", "Overloaded") + b"\n\n",
            ]
        elif model in ("invalid-event", "invalid-event-early", "api-event-early"):
            kind = "api_error" if model == "api-event-early" else "invalid_request_error"
            error = b"event: error\ndata: " + _error(kind, "bad") + b"\n\n"
            frames = [*frames[: 4 if model == "invalid-event" else 2], error]
        elif model == "leaky-event":
            frames = [*frames[:4], b"event: error\ndata: " + _error("api_error", LEAK) + b"\n\n"]
        elif model == "stall":
            frames = frames[:4]
        elif model == "no-stop":
            frames = frames[:-1]
        w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
        w.write(b"transfer-encoding: chunked\r\n\r\n")
        for f in frames:
            w.write(b"%x\r\n%s\r\n" % (len(f), f))
            await w.drain()
            if model == "replay-pieces":
                await asyncio.sleep(0.1)  # a read of its own for each piece
        if model in ("reset", "reset-early"):
            w.transport.abort()
            return False
        if model in ("stall", "stall-pieces"):
            await asyncio.sleep(60)  # cancelled by stop(); the client gives up long before
            return False
        w.write(b"0\r\n\r\n")
        await w.drain()
        return True


async def _respond(
    w: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str] | None = None
) -> bool:
    head = {"content-type": "application/json", "content-length": str(len(body)), **(headers or {})}
    w.write(
        f"HTTP/1.1 {status} X\r\n".encode()
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in head.items())
        + b"\r\n"
        + body
    )
    await w.drain()
    return True


@contextlib.contextmanager
def running() -> Iterator[AnthropicMock]:
    mock = AnthropicMock().start()
    try:
        yield mock
    finally:
        mock.stop()
