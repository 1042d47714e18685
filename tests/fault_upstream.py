"""A scripted upstream on a loopback socket for the fault matrix (tests/test_probe19a_*.py).

It speaks OpenAI's chat completions and embeddings and Anthropic's messages, whole and streamed,
and answers each call by the fault its model's name has in `FaultUpstream.script` (default:
a healthy answer). Raw asyncio, not a web framework, so it can do what a broken server does:
reset the connection after any event, stall, write a malformed SSE line, cut a JSON body, answer
HTML with 200, leave usage out or report an absurd one.

`bills` is what this upstream billed: one (model, prompt tokens, completion tokens) per answer
(sent with its usage or not: `nousage`, `nofinish`; `countednofinish`: no finish reason, the usage
sent), the figure a provider's invoice would show.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7  # per choice
WORDS = ["The", " answer", " is", " ok", "."]


@dataclass(slots=True)
class FaultUpstream:
    port: int = 0
    script: dict[str, str] = field(default_factory=dict)  # upstream model -> fault
    bills: list[tuple[str, int, int]] = field(default_factory=list)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (path, model, fault)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None

    def reset(self, **script: str) -> None:
        self.script = {k.replace("_", "-"): v for k, v in script.items()}
        self.bills.clear()
        self.calls.clear()

    def billed_tokens(self) -> tuple[int, int]:
        return sum(b[1] for b in self.bills), sum(b[2] for b in self.bills)

    # the server ---------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = orjson.loads(await reader.readexactly(int(headers["content-length"])))
                if not await self._answer(writer, path, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _answer(self, w: asyncio.StreamWriter, path: str, body: dict[str, Any]) -> bool:
        """False: the connection is to close (a reset, a truncated body, a close-delimited end)."""
        model = str(body.get("model", ""))
        fault = _marked_fault(body, model) or self.script.get(model, "ok")
        self.calls.append((path, model, fault))
        kind, _, arg = fault.partition("@")
        if kind in ("status", "cuterror", "htmlerror"):  # status[:retry-after]
            code, _, retry = arg.partition(":")
            extra = {"retry-after": retry} if retry else {}
            err = (
                {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
                if path.endswith("/messages")
                else {"error": {"message": "busy", "type": "server_error", "code": None}}
            )
            raw = orjson.dumps(err)
            if kind == "cuterror":  # the error's length promised, half its bytes sent, a close
                head = _head(int(code), {"content-type": "application/json", **extra}, len(raw))
                w.write(head + raw[: len(raw) // 2])
                await w.drain()
                return False
            if kind == "htmlerror":  # a proxy's page, not the provider's own error object
                extra["content-type"] = "text/html"
                raw = b"<html><body>Bad gateway</body></html>"
            await _send(w, int(code), raw, extra)
            return True
        if kind == "stall":  # nothing at all until the sidecar gives up
            await asyncio.sleep(float(arg or 30))
            return False
        if kind == "delay":  # a slow model: nothing for `arg` seconds, then a healthy answer
            await asyncio.sleep(float(arg))
            kind, arg = "ok", ""
        if kind.startswith("cachewrite") and arg:  # cachewrite@S: its answer after S seconds
            await asyncio.sleep(float(arg))
            arg = ""
        if kind == "cost" and not body.get("stream"):  # usage.cost (USD), as OpenRouter sends
            usd, _, after_s = arg.partition(":")  # cost@USD[:S]: answered after S seconds
            await asyncio.sleep(float(after_s or 0))
            answer = self._whole(path, body, model, "ok")
            answer["usage"]["cost"] = float(usd)
            await _send(w, 200, orjson.dumps(answer))
            return True
        if body.get("stream"):
            return await self._stream(w, path, body, model, kind, arg)
        answer = self._whole(path, body, model, kind)
        raw = orjson.dumps(answer)
        if kind == "truncated":  # the length promised, half the bytes sent, then a close
            w.write(
                _head(200, {"content-type": "application/json"}, len(raw)) + raw[: len(raw) // 2]
            )
            await w.drain()
            return False
        if kind == "cutjson":  # a body complete by its length whose JSON is cut off
            await _send(w, 200, raw[: len(raw) // 2])
            return True
        if kind == "html":
            await _send(w, 200, b"<html><body>Gateway</body></html>", {"content-type": "text/html"})
            return True
        if kind == "oversized":  # a valid answer past the upstream's max_response_bytes
            answer["x_padding"] = "x" * int(arg or 200_000)  # whatever the answer's kind
            raw = orjson.dumps(answer)
        await _send(w, 200, raw)
        return True

    def _usage_for(
        self, body: dict[str, Any], model: str, kind: str, n: int, prompt: int = PROMPT_TOKENS
    ) -> Any:
        if kind == "emptyzero":  # an empty answer, its output truly counted 0
            self.bills.append((model, prompt, 0))
            return (prompt, 0)
        self.bills.append((model, prompt, COMPLETION_TOKENS * n))  # what it billed
        if kind.startswith(("nousage", "nofinish")):  # billed all the same, never said
            return None
        if kind == "cacheonly":  # Anthropic's input as cache reads alone, no `input_tokens`
            return ("cache", COMPLETION_TOKENS * n)
        if kind == "cachewrite1h":  # written to the 1-hour cache, its usage saying so
            return ("write1h", COMPLETION_TOKENS * n)
        if kind.startswith("cachewrite"):  # the whole prompt written to Anthropic's cache
            return ("write", COMPLETION_TOKENS * n)
        if kind == "absurd":  # what it reported
            return (-5, 10**13)
        if kind == "onlyprompt":  # a usage with its output count left out (whole answers)
            return (prompt, None)
        if kind == "onlyoutput":  # its input count left out (whole answers)
            return (None, COMPLETION_TOKENS * n)
        if kind == "zerooutput":  # an output count of 0 beside the text it answered
            return (prompt, 0)
        if kind == "zeroboth":  # both counts 0
            return (0, 0)
        if kind == "pastlimit":  # an output count past any limit it was sent (under 10^8)
            return (prompt, 10**7)
        if kind == "pastwindow":  # a prompt count past any model's window (under 10^8)
            return (10**7, COMPLETION_TOKENS * n)
        return (prompt, COMPLETION_TOKENS * n)

    def _whole(self, path: str, body: dict[str, Any], model: str, kind: str) -> dict[str, Any]:
        text = "".join(_words(kind))
        if path.endswith("/embeddings"):
            items = body["input"] if isinstance(body["input"], list) else [body["input"]]
            usage = self._usage_for(body, model, kind, 0, prompt=len(items))  # a token each
            out: dict[str, Any] = {
                "object": "list",
                "model": model,
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i in range(len(items))
                ],
            }
            if usage:
                out["usage"] = _given({"prompt_tokens": usage[0], "total_tokens": usage[0]})
            return out
        if path.endswith("/messages"):
            usage = self._usage_for(body, model, kind, 1)
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            stop = "end_turn"
            if body.get("tools"):
                name = body["tools"][0]["name"]
                content += [
                    {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {"q": i}}
                    for i in range(2)
                ]
                stop = "tool_use"
            msg: dict[str, Any] = {
                "id": "msg_fault",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
            }
            if usage:
                msg["usage"] = _anthropic_usage(usage)
            if kind in ("nofinish", "countednofinish"):
                msg["stop_reason"] = None
            return msg
        n = int(body.get("n") or 1)
        usage = self._usage_for(body, model, kind, n)
        if not path.endswith("/chat/completions"):  # the legacy /v1/completions
            legacy: dict[str, Any] = {
                "id": "cmpl-fault",
                "object": "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": i, "text": text, "finish_reason": "stop", "logprobs": None}
                    for i in range(n)
                ],
            }
            if usage:
                legacy["usage"] = _chat_usage(usage)
            return legacy
        choices = []
        for i in range(n):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            finish = "stop"
            if body.get("tools"):
                name = body["tools"][0]["function"]["name"]
                message["content"] = None
                message["tool_calls"] = [
                    {
                        "id": f"call_{i}_{j}",
                        "type": "function",
                        "function": {"name": name, "arguments": orjson.dumps({"q": j}).decode()},
                    }
                    for j in range(2)
                ]
                finish = "tool_calls"
            elif (body.get("response_format") or {}).get("type") == "json_schema":
                message["content"] = '{"answer": "ok"}'
            if kind in ("nofinish", "countednofinish"):  # a lenient server's: no finish reason
                finish = None
            choice: dict[str, Any] = {"index": i, "message": message, "finish_reason": finish}
            if body.get("logprobs"):
                choice["logprobs"] = {
                    "content": [
                        {"token": t, "logprob": -0.1, "bytes": list(t.encode()), "top_logprobs": []}
                        for t in WORDS
                    ],
                    "refusal": None,
                }
            choices.append(choice)
        out = {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
        }
        if usage:
            out["usage"] = _chat_usage(usage)
        return out

    def _events(self, path: str, body: dict[str, Any], model: str, kind: str) -> list[bytes]:
        """The stream's frames, in order; a fault picks an index among them."""
        if path.endswith("/messages"):
            usage = self._usage_for(body, model, kind, 1)

            def ev(name: str, data: dict[str, Any]) -> bytes:
                return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

            start = {
                "id": "msg_fault",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
            }
            if usage:
                start["usage"] = _anthropic_usage((usage[0], 1))
            frames = [
                ev("message_start", {"type": "message_start", "message": start}),
                ev(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
            ]
            frames += [
                ev(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": word},
                    },
                )
                for word in _words(kind)
            ]
            frames += [
                ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ev(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        **({"usage": {"output_tokens": usage[1]}} if usage else {}),
                    },
                ),
                ev("message_stop", {"type": "message_stop"}),
            ]
            return frames
        n = int(body.get("n") or 1)
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        # an upstream that ignores include_usage (`nousage`) bills all the same
        usage = self._usage_for(body, model, kind, n) if include or kind == "nousage" else None

        def chunk(choices: list[dict[str, Any]], usage_: Any = None) -> bytes:
            data: dict[str, Any] = {
                "id": "chatcmpl-fault",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "choices": choices,
            }
            if usage_ is not None:
                data["usage"] = usage_
            return b"data: " + orjson.dumps(data) + b"\n\n"

        frames = [
            chunk(
                [
                    {
                        "index": i,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                    for i in range(n)
                ]
            )
        ]
        for word in _words(kind):
            frames.append(
                chunk(
                    [
                        {"index": i, "delta": {"content": word}, "finish_reason": None}
                        for i in range(n)
                    ]
                )
            )
        if kind not in ("nofinish", "countednofinish"):
            frames.append(
                chunk([{"index": i, "delta": {}, "finish_reason": "stop"} for i in range(n)])
            )
        if usage is not None:
            frames.append(chunk([], _chat_usage(usage)))
        frames.append(b"data: [DONE]\n\n")
        return frames

    async def _stream(
        self,
        w: asyncio.StreamWriter,
        path: str,
        body: dict[str, Any],
        model: str,
        kind: str,
        arg: str,
    ) -> bool:
        frames = self._events(path, body, model, kind)
        at = int(arg) if arg else -1
        ctype = "text/html" if kind == "html" else "text/event-stream"
        w.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: "
            + ctype.encode()
            + b"\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for i, frame in enumerate(frames):
            if i == at and kind in ("reset", "nousagereset"):  # after `at` frames: it drops
                w.transport.abort()
                return False
            if i == at and kind == "malformed":
                frame = b'data: {"id": "chatcmpl-fault", "choices": [{\n\n'
            if i == at and kind == "midstall":
                await asyncio.sleep(30)
                return False
            w.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await w.drain()
        w.write(b"0\r\n\r\n")
        await w.drain()
        return True


_MARK = b"[[fault:"


def _words(kind: str) -> list[str]:
    """The answer's text, in its stream's pieces (`emptyzero`: none)."""
    return [] if kind == "emptyzero" else WORDS


def _given(usage: dict[str, Any]) -> dict[str, Any]:
    """A usage without the counts a one-sided fault left out (None)."""
    return {k: v for k, v in usage.items() if v is not None}


def _anthropic_usage(usage: tuple[Any, Any]) -> dict[str, Any]:
    """`cache` in place of the input count: the prompt read from the cache alone."""
    if usage[0] == "cache":
        return {"cache_read_input_tokens": PROMPT_TOKENS, "output_tokens": usage[1]}
    if usage[0] == "write1h":  # Anthropic's split of the writes by cache
        return {"input_tokens": 0, "cache_creation_input_tokens": PROMPT_TOKENS,
                "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                   "ephemeral_1h_input_tokens": PROMPT_TOKENS},
                "output_tokens": usage[1]}  # fmt: skip
    if usage[0] == "write":
        return {"input_tokens": 0, "cache_creation_input_tokens": PROMPT_TOKENS,
                "output_tokens": usage[1]}  # fmt: skip
    return _given({"input_tokens": usage[0], "output_tokens": usage[1]})


def _chat_usage(usage: tuple[Any, Any]) -> dict[str, Any]:
    prompt, output = usage
    total = (prompt or 0) + (output or 0)
    return _given({"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": total})


def _marked_fault(body: dict[str, Any], model: str) -> str | None:
    """A fault named in the request's own text, `[[fault:MODEL=FAULT]]`, so that concurrent
    requests each get their own (the script is one per model)."""
    raw = orjson.dumps(body)
    at = raw.find(_MARK + model.encode() + b"=")
    if at < 0:
        return None
    start = at + len(_MARK) + len(model) + 1
    return raw[start : raw.index(b"]]", start)].decode()


def _head(status: int, headers: dict[str, str], length: int) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"content-length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _send(
    w: asyncio.StreamWriter, status: int, raw: bytes, headers: dict[str, str] | None = None
) -> None:
    h = {"content-type": "application/json", **(headers or {})}
    w.write(_head(status, h, len(raw)) + raw)
    await w.drain()


@contextmanager
def fault_upstream(up: FaultUpstream | None = None) -> Iterator[FaultUpstream]:
    """The upstream (`up`, else a FaultUpstream) on its own loop in a daemon thread, on a free
    loopback port."""
    up = FaultUpstream() if up is None else up
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def serve() -> None:
        up._server = await asyncio.start_server(up._handle, "127.0.0.1", 0)
        up.port = up._server.sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert ready.wait(10), "the fault upstream did not start"
    up._loop = loop
    try:
        yield up
    finally:

        async def close() -> None:
            assert up._server is not None
            up._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
