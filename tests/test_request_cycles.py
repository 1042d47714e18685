"""A model request leaves no reference cycle behind: its objects are freed by reference counting
when it ends, not by the garbage collector.

Each routed, named or streamed request on every surface left 9-16 objects in a cycle (its Plan
held its Charge, the Charge its CallWorst, the CallWorst a model lookup holding the Plan; with
them the plan's candidates, tables and log line): at 300 requests a second the young collections
freed ~520 such objects each, and those caught with their request in flight were promoted and
walked by the full collections (4,500-7,000 collected in each; bench/results/scale.md, tail21).

The app is called directly over ASGI (no HTTP client: httpx's own response objects are cyclic),
with the collector off; what one collection then finds unreachable is what the requests left.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import orjson
from starlette.types import ASGIApp, Message

from tests.inproc import sidecar_in_process

REQUESTS = 20

KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "chat routed": (
        "/v1/chat/completions",
        {"model": "auto", "messages": [{"role": "user", "content": "say something short"}]},
    ),
    "chat named": (
        "/v1/chat/completions",
        {"model": "sim-small", "messages": [{"role": "user", "content": "hi there"}]},
    ),
    "chat routed stream": (
        "/v1/chat/completions",
        {
            "model": "auto",
            "stream": True,
            "messages": [{"role": "user", "content": "say something short"}],
        },
    ),
    "messages routed": (
        "/v1/messages",
        {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "responses routed": ("/v1/responses", {"model": "auto", "input": "hi there"}),
}


async def _call(app: ASGIApp, path: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    """One request straight into the ASGI app; its status."""
    raw = orjson.dumps(body)
    fields = {"host": "127.0.0.1", "content-type": "application/json", **headers}
    fields["content-length"] = str(len(raw))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in fields.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    ended = asyncio.Event()
    read = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        if not read:
            read = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await ended.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    ended.set()
    return int(sent[0]["status"])


def test_a_model_request_leaves_no_cyclic_garbage(tmp_path: Path) -> None:
    async def main() -> dict[str, tuple[int, list[str]]]:
        found: dict[str, tuple[int, list[str]]] = {}
        async with sidecar_in_process(tmp_path) as sc:
            for kind, (path, body) in KINDS.items():
                headers = sc.auth_for(path)
                for _ in range(3):  # lazy imports, pools, first-use caches
                    assert await _call(sc.app, path, body, headers) == 200, kind
                await asyncio.sleep(0.05)  # grading and recording callbacks of the warm-up
                gc.collect()
                gc.disable()
                try:
                    for _ in range(REQUESTS):
                        assert await _call(sc.app, path, body, headers) == 200, kind
                    await asyncio.sleep(0.05)
                    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what it finds, to name it on failure
                    n = gc.collect()
                finally:
                    gc.set_debug(0)
                    gc.enable()
                found[kind] = (n, sorted({type(o).__qualname__ for o in gc.garbage}))
                gc.garbage.clear()
        return found

    found = asyncio.run(main())
    # before the fix: 9-16 objects a request (Plan, Charge, CallWorst, partial, candidates...)
    cyclic = {kind: got for kind, got in found.items() if got[0] >= REQUESTS}
    assert not cyclic, f"objects in cycles after {REQUESTS} requests of each kind: {cyclic}"
