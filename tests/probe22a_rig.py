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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson

from arbiter.offline.demo import API_KEY_ENV
from tests.conftest import Sidecar

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


Script = Callable[[str, dict[str, Any]], Reply]


def sse(name: str | None, data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()


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
        if kind == "text":
            opened: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block["text"]}]
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
class Upstream:
    """Scripts by marker, and every (path, body) received."""

    scripts: dict[str, Script] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, marker: str) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [(p, b) for p, b in self.seen if f"[[p:{marker}]]".encode() in orjson.dumps(b)]

    def one(self, marker: str) -> tuple[str, dict[str, Any]]:
        calls = self.bodies(marker)
        assert len(calls) == 1, [p for p, _ in calls]
        return calls[0]

    def script_for(self, body: dict[str, Any]) -> Script:
        raw = orjson.dumps(body)
        at = raw.find(_MARK)
        if at < 0:
            return default_reply
        name = raw[at + len(_MARK) : raw.index(b"]]", at)].decode()
        return self.scripts.get(name, default_reply)


class _Handler(BaseHTTPRequestHandler):
    upstream: Upstream  # set on the subclass each rig makes
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["content-length"])))
        with self.upstream.lock:
            self.upstream.seen.append((self.path, body))
        reply = self.upstream.script_for(body)(self.path, body)
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if reply.frames is not None:
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for frame in reply.frames:
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
    models = ""
    for name, up in (("oa-1", "ro"), ("an-1", "ra"), ("oa-2", "ro"), ("an-2", "ra")):
        models += (
            f'[models.{name}]\nupstream = "{up}"\nprice_in_per_mtok = {PRICE_IN}\n'
            f"price_out_per_mtok = {PRICE_OUT}\ncontext_window = 2000000\n"
            f"price_cache_read_per_mtok = {PRICE_CACHE_READ}\n"
            f"price_cache_write_per_mtok = {PRICE_CACHE_WRITE}\n"
            'capabilities = ["chat", "json", "tools", "vision"]\n'
        )
    return f"""
[auth]
mode = "keys"
admin_key_env = "ARBITER_DEMO_ADMIN_KEY"
[server]
log_level = "warning"
[store]
url = "sqlite:///{db}"
flush_interval_ms = 20
[routing]
baseline = "oa-1"
quality_target = 0.5
explore = 0.0
seed = 3
difficulty = false
judge_sample_rate = 0.0
[latency]
probe_unseen = false
[failover]
first_byte_timeout_s = 3.0
total_timeout_s = 6.0
deadline_s = 8.0
retries_per_model = 0
[breaker]
failure_threshold = 100000
[budgets]
caps = [{{ scope = "global", limit_usd = 100000.0, window = "total" }}]
[upstreams.ro]
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "{API_KEY_ENV}"
[upstreams.ra]
base_url = "http://127.0.0.1:{port}"
protocol = "anthropic"
api_key_env = "{API_KEY_ENV}"
{models}"""


@dataclass(slots=True)
class Rig:
    upstream: Upstream
    sidecar: Sidecar
    key: str
    oa: openai.OpenAI
    an: anthropic.Anthropic

    def script(self, marker: str, fn: Script) -> str:
        """Register `fn` for `marker`; the text a request carries to be answered by it."""
        self.upstream.scripts[marker] = fn
        return f"[[p:{marker}]]"

    def decision(self, decision_id: str) -> dict[str, Any]:
        """The recorded decision (polled: the store flushes every 20 ms)."""
        for _ in range(200):  # bounded: 10 s at most
            r = self.sidecar.admin("GET", f"/arbiter/decisions/{decision_id}")
            if r.status_code == 200:
                return dict(r.json())
            threading.Event().wait(0.05)
        raise AssertionError(f"decision {decision_id} never recorded")


@contextmanager
def rig(tmp: Path) -> Iterator[Rig]:
    upstream = Upstream()
    handler = type("Handler", (_Handler,), {"upstream": upstream})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp / "a.toml").write_text(config(server.server_port, tmp / "a.db"))
    sidecar = Sidecar(tmp / "a.toml").start()
    try:
        key = str(sidecar.create_key()["key"])
        with (
            openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0, timeout=20) as oa,
            anthropic.Anthropic(
                base_url=sidecar.root_url, api_key=key, max_retries=0, timeout=20
            ) as an,
        ):
            yield Rig(upstream, sidecar, key, oa, an)
    finally:
        sidecar.stop()
        server.shutdown()
        server.server_close()
