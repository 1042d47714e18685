"""A sidecar served by uvicorn on a loopback socket (in the test's own event loop) with the cache
on, before a scripted upstream speaking OpenAI and Anthropic streams on another loopback socket:
it counts its calls and holds each stream after its first chunk until the test releases it, so
a test knows the identical requests it sends next arrive while the first is in flight. Used by
the coalescing tests (test_coalesce27_streams.py) and bench/coalesce.py. The sidecar is
inproc.py's (`demo_app`), served by uvicorn as `arbiter serve` serves it, not behind httpx's
ASGI transport: these tests need real sockets (a client leaving mid-stream, joins while a
stream is held, a drain's grace), in this loop (the services and the script read as they run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from arbiter.auth import create_key
from arbiter.inherited_socket import loopback_listener, port_of
from arbiter.services import Services
from arbiter.stopping import Stopping
from tests.inproc import demo_app, raw_anthropic_upstream, raw_openai_upstream

try:
    from arbiter.cli_serve import _server_telling_streams
except ImportError:  # an older arbiter (bench/coalesce.py's baseline variant): cli.py held it
    from arbiter.cli import _server_telling_streams  # type: ignore[attr-defined,no-redef]

WORDS = [f"w{i} " for i in range(40)]  # the answer, one word a chunk
ANSWER = "".join(WORDS)
HOLD_LIMIT_S = 30.0  # a held stream never waits longer (a failing test must still end)


@dataclass(slots=True)
class Script:
    """What the upstream does: `hold` each stream after its first word until `release`;
    `fail_first`: the first `n` calls answer 500 before any byte; `break_after`: a stream
    stops (the connection closes) after that many chunks; `chunk_s`: a pause between chunks."""

    hold: bool = True
    fail_first: int = 0
    break_after: int | None = None
    chunk_s: float = 0.0
    calls: int = 0
    completed: int = 0  # streams sent to their end
    release: asyncio.Event = field(default_factory=asyncio.Event)
    first_sent: asyncio.Event = field(default_factory=asyncio.Event)


def _openai_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    chunk = {
        "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1,
        "model": "oa-raw", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }  # fmt: skip
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _anthropic(kind: str, **data: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


def _frames(anthropic: bool) -> list[bytes]:
    if not anthropic:
        usage = {"prompt_tokens": 9, "completion_tokens": len(WORDS), "total_tokens": 49}
        return [
            _openai_chunk({"role": "assistant", "content": ""}),
            *(_openai_chunk({"content": w}) for w in WORDS),
            _openai_chunk({}, "stop"),
            b"data: " + orjson.dumps({
                "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1,
                "model": "oa-raw", "choices": [], "usage": usage,
            }) + b"\n\n",
            b"data: [DONE]\n\n",
        ]  # fmt: skip
    message = {
        "id": "msg_up", "type": "message", "role": "assistant", "model": "an-raw",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 1},
    }  # fmt: skip
    return [
        _anthropic("message_start", message=message),
        _anthropic("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        *(
            _anthropic("content_block_delta", index=0, delta={"type": "text_delta", "text": w})
            for w in WORDS
        ),
        _anthropic("content_block_stop", index=0),
        _anthropic(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": len(WORDS)},
        ),
        _anthropic("message_stop"),
    ]


def upstream_app(script: Script) -> Starlette:
    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        script.calls += 1
        if script.calls <= script.fail_first:
            return JSONResponse({"error": {"message": "down", "type": "server_error"}}, 500)
        assert body.get("stream"), "the rig answers streams only"
        claude = request.url.path.endswith("/messages")
        frames = _frames(claude)
        first_text = 2 if claude else 1  # the frame carrying the answer's first word

        async def gen() -> AsyncIterator[bytes]:
            for i, frame in enumerate(frames):
                if script.break_after is not None and i >= script.break_after:
                    return  # the connection ends before the stream's end event
                yield frame
                if i == first_text:
                    script.first_sent.set()
                    if script.hold:
                        async with asyncio.timeout(HOLD_LIMIT_S):
                            await script.release.wait()
                if script.chunk_s:
                    await asyncio.sleep(script.chunk_s)
            script.completed += 1

        return StreamingResponse(gen(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/messages", chat, methods=["POST"]),
        ]
    )


@dataclass(slots=True)
class Rig:
    url: str  # the sidecar's root, http://127.0.0.1:port
    key: str
    services: Services
    script: Script
    key_id: str = ""  # the key's id (key_streams, the admin API)
    # the sidecar's uvicorn.Server (`handle_exit` is SIGTERM's path; clear its
    # `_captured_signals` after, or uvicorn raises the signal again at its exit)
    server: Any = None


async def _serve(
    app: Any, lifespan: str, grace_s: float | None = None, stopping: Stopping | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """`stopping`: served as `arbiter serve` serves (its server marks the shutdown's start, so
    the streams cut at the end of `grace_s` are told why: cli_serve.py)."""
    sock = loopback_listener()
    cfg = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan=lifespan,
        timeout_graceful_shutdown=grace_s,  # type: ignore[arg-type]
    )  # fmt: skip
    server = (
        uvicorn.Server(cfg) if stopping is None else _server_telling_streams(uvicorn, cfg, stopping)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(60):
        while not server.started:
            assert not task.done(), "a server stopped while starting"
            await asyncio.sleep(0.01)
    return server, task, port_of(sock)


async def _stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    async with asyncio.timeout(30):
        await task


@asynccontextmanager
async def coalescing_rig(
    tmp_path: Path, script: Script | None = None, extra_config: str = "", grace_s: float = 30.0
) -> AsyncIterator[Rig]:
    """The sidecar (cache on, keys on, SQLite in `tmp_path`) with models `oa-raw` (OpenAI) and
    `an-raw` (Anthropic) on the scripted upstream; `extra_config` is appended to its TOML;
    `grace_s`: its `server.shutdown_grace_s` (Rig.server.handle_exit drains it)."""
    script = script or Script()
    up, up_task, up_port = await _serve(upstream_app(script), "off")

    def edit(text: str) -> str:
        text = raw_anthropic_upstream(up_port)(raw_openai_upstream(up_port)(text))
        return text + "\n[cache]\nenabled = true\n" + extra_config

    try:
        async with demo_app(tmp_path, edit_config=edit) as (services, app, _):
            server, task, port = await _serve(app, "on", grace_s, services.stopping)
            try:
                key = create_key(services.store, "default")
                yield Rig(f"http://127.0.0.1:{port}", key.key, services, script, key.id, server)
            finally:
                await _stop(server, task)
    finally:
        await _stop(up, up_task)
