"""Outside probe: a client that sends its headers and part of its body, then hangs up. Starlette
raised its ClientDisconnect out of the body read, which reached the catch-all handler: two
ERROR tracebacks per request (ours and uvicorn's) and a 500 in the request log, so any client
could fill the error log at will. Now it is the client's disconnect (499 in the request log,
no traceback), on every surface."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.inproc import InProcess, sidecar_in_process

PATHS = ["/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/embeddings", "/v1/feedback"]


def post_scope(sc: InProcess, path: str, content_length: int) -> dict[str, Any]:
    """The ASGI scope uvicorn gives the app for a client's JSON POST to `path` (with the
    header the anthropic SDK sends on /v1/messages)."""
    version = [(b"anthropic-version", b"2023-06-01")] if path.startswith("/v1/messages") else []
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8787),
        "headers": [
            (b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
            (b"content-length", str(content_length).encode()),
            (b"authorization", f"Bearer {sc.api_key}".encode()), *version,
        ],
    }  # fmt: skip


async def half_a_body_then_gone(sc: InProcess, path: str) -> list[dict[str, Any]]:
    """Drive the ASGI app as uvicorn would for a client that leaves mid-body; what it sent."""
    scope = post_scope(sc, path, 1000)
    incoming = [
        {"type": "http.request", "body": b'{"model": "auto", "mess', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await sc.app(scope, receive, send)
    return sent


def test_a_client_gone_mid_body_is_no_server_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for path in PATHS:
                sent = await half_a_body_then_gone(sc, path)
                start = next(m for m in sent if m["type"] == "http.response.start")
                assert start["status"] == 499, (path, start)

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    lines = [r.__dict__ for r in caplog.records if r.name == "arbiter.request"]
    gone = [(line["surface"], line["error"]) for line in lines if line["status"] == 499]
    assert len(gone) == len(PATHS) and {e for _, e in gone} == {"client_disconnected"}, lines
