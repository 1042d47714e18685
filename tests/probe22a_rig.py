"""probe22a's rig: a real `arbiter serve` in front of one HTTP server on 127.0.0.1 that speaks
OpenAI's chat completions (`/v1/chat/completions`) and Anthropic's messages (`/v1/messages`).
Each test registers its own answer under a marker its request carries (`[[p:NAME]]`), so the
tests on one sidecar never share one; the server records every body it receives. oa-1 is served
by the OpenAI-protocol upstream, an-1 by the Anthropic one, so an OpenAI client naming an-1 and
an Anthropic client naming oa-1 cross protocols. oa-2 and an-2 are the same for the tests whose
upstream errors (a Retry-After pauses a model). The breaker never opens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.probe_rig import (
    Recorder,
    RecordingHandler,
    SdkRig,
    marker,
    model_toml,
    rig_toml,
    sidecar_before,
    sse,
)

__all__ = ["sse"]  # the tests build their frames with it

# USD per 1M tokens: each call's cost far above rounding
PRICE_IN, PRICE_OUT, PRICE_CACHE_READ, PRICE_CACHE_WRITE = 1000.0, 2000.0, 100.0, 1250.0
_MARK = b"[[p:"


@dataclass(slots=True)
class Reply:
    """What the upstream answers: a status, a body (or SSE frames, sent one write each) and
    headers."""

    body: dict[str, Any] | bytes | None = None
    frames: list[bytes] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # frames[gate_at:] wait until the test sets `gate` (5 s at most): what the client reads
    # before it is what the sidecar sent live
    gate: threading.Event | None = None
    gate_at: int = 0
    gate_missed: bool = False  # the 5 s passed, the frames sent unasked


Script = Callable[[str, dict[str, Any]], Reply]


def chat_whole(
    message: dict[str, Any], finish: str, usage: tuple[int, int] = (11, 7), model: str = "m"
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-p22", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", **message},
                     "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                  "total_tokens": sum(usage)},
    }  # fmt: skip


def chat_frames(
    deltas: list[dict[str, Any]], finish: str, usage: tuple[int, int] = (11, 7)
) -> list[bytes]:
    head = {"id": "chatcmpl-p22", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    frames = [
        sse(None, {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
        for d in deltas
    ]
    frames.append(sse(None, {**head, "choices": [{"index": 0, "delta": {},
                                                  "finish_reason": finish}]}))  # fmt: skip
    frames.append(
        sse(
            None,
            {
                **head,
                "choices": [],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                },
            },
        )
    )
    frames.append(b"data: [DONE]\n\n")
    return frames


def message_whole(
    content: list[dict[str, Any]], stop: str | None, usage: tuple[int, int] = (11, 7),
    stop_sequence: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "id": "msg_p22", "type": "message", "role": "assistant", "model": "claude-x",
        "content": content, "stop_reason": stop, "stop_sequence": stop_sequence,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }  # fmt: skip


def message_frames(
    events: list[dict[str, Any]], stop: str, usage: tuple[int, int] = (11, 7),
    stop_sequence: str | None = None,
) -> list[bytes]:  # fmt: skip
    """message_start, the given content_block_* events, message_delta and message_stop."""
    start = message_whole([], None, (usage[0], 1))
    frames = [sse("message_start", {"type": "message_start", "message": start})]
    frames += [sse(e["type"], e) for e in events]
    frames += [
        sse("message_delta", {"type": "message_delta",
                              "delta": {"stop_reason": stop, "stop_sequence": stop_sequence},
                              "usage": {"output_tokens": usage[1]}}),
        sse("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return frames


def blocks_as_events(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic stream events for whole content blocks, each in one delta."""
    out: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        kind = block["type"]
        if kind == "text":  # its citations (if any) each a citations_delta, as Anthropic's
            opened: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                {"type": "citations_delta", "citation": c} for c in block.get("citations") or ()
            ]
            deltas.append({"type": "text_delta", "text": block["text"]})
        elif kind == "tool_use":
            opened = {**block, "input": {}}
            deltas = [{"type": "input_json_delta",
                       "partial_json": orjson.dumps(block["input"]).decode()}]  # fmt: skip
        elif kind == "thinking":
            opened = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]  # fmt: skip
        else:  # redacted_thinking and others: whole in the start event
            opened, deltas = block, []
        out.append({"type": "content_block_start", "index": i, "content_block": opened})
        out += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        out.append({"type": "content_block_stop", "index": i})
    return out


def default_reply(path: str, body: dict[str, Any]) -> Reply:
    if path.endswith("/messages"):
        content = [{"type": "text", "text": "ok"}]
        if body.get("stream"):
            return Reply(frames=message_frames(blocks_as_events(content), "end_turn"))
        return Reply(message_whole(content, "end_turn"))
    if body.get("stream"):
        return Reply(frames=chat_frames([{"role": "assistant", "content": "ok"}], "stop"))
    return Reply(chat_whole({"content": "ok"}, "stop"))


@dataclass(slots=True)
class Upstream(Recorder):
    """Scripts by marker, and every (path, body) received."""

    scripts: dict[str, Script] = field(default_factory=dict)

    def bodies(self, marker: str) -> list[tuple[str, dict[str, Any]]]:
        return Recorder.bodies(self, f"[[p:{marker}]]")

    def script_for(self, body: dict[str, Any]) -> Script:
        name = marker(body, _MARK)
        return default_reply if name is None else self.scripts.get(name, default_reply)


class _Handler(RecordingHandler):
    recorder: Upstream

    def do_POST(self) -> None:
        body = self.recorded_json()
        reply = self.recorder.script_for(body)(self.path, body)
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if reply.frames is not None:
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for i, frame in enumerate(reply.frames):
                if reply.gate is not None and i == reply.gate_at:
                    reply.gate_missed = not reply.gate.wait(5)
                self.wfile.write(frame)
                self.wfile.flush()
            self.close_connection = True
            return
        raw = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
        if "content-type" not in reply.headers:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def config(port: int, db: Path) -> str:
    caps = '["chat", "json", "tools", "vision"]'
    cache = (
        f"price_cache_read_per_mtok = {PRICE_CACHE_READ}\n"
        f"price_cache_write_per_mtok = {PRICE_CACHE_WRITE}\n"
    )
    claude = '["chat", "json", "tools", "vision", "thinking", "pdf"]'
    models = "".join(
        model_toml(name, up, (PRICE_IN, PRICE_OUT), 2000000, c, cache)
        for name, up, c in (("oa-1", "ro", caps), ("an-1", "ra", claude), ("oa-2", "ro", caps),
                            ("an-2", "ra", claude))
    )  # fmt: skip
    failover = {"first_byte_timeout_s": 3.0, "total_timeout_s": 6.0, "deadline_s": 8.0,
                "retries_per_model": 0}  # fmt: skip
    return rig_toml(port, db, models, failover, breaker=100000)


def cached_config(port: int, db: Path) -> str:
    """config's, with the response cache on for every tenant."""
    return config(port, db) + "[cache]\nenabled = true\n"


Rig = SdkRig[Upstream]


@contextmanager
def rig(tmp: Path, made: Callable[[int, Path], str] = config) -> Iterator[Rig]:
    """The sidecar on `made(port, db)` (this module's `config` unless another pool is given)."""
    upstream = Upstream()
    with sidecar_before(tmp, _Handler, upstream, made) as (sidecar, key, oa, an):
        yield Rig(upstream, sidecar, key, oa, an)
