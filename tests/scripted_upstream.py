"""Scaffolding the scripted-upstream e2e tests share: a scripted upstream (each test's own
handler, on `ScriptedHandler`) served from a thread, a sidecar in front of it with one $100
tenant cap and no sampled judge, and a tenant's spend as the budgets API reads it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.pg import empty_store_url


class ScriptedHandler(BaseHTTPRequestHandler):
    """A scripted upstream's handler: quiet, reads a JSON request, writes a whole answer."""

    def log_message(self, *args: Any) -> None:
        pass

    def read_json(self) -> Any:
        return orjson.loads(self.rfile.read(int(self.headers.get("content-length", 0))))

    def answer(
        self,
        body: bytes,
        kind: str = "application/json",
        headers: dict[str, str] | None = None,
        status: int = 200,
    ) -> None:
        """`body` as a whole answer (with its length), with `headers` besides its type."""
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def ok_chat_answer(model: str, stream: bool, usage: dict[str, int]) -> tuple[bytes, str]:
    """A chat answer "ok" with `usage` (a stream: the text, the finish, the usage chunk), and
    its content type."""
    head = {"id": "chatcmpl-1", "created": 1, "model": model}
    if not stream:
        body = orjson.dumps({
            **head, "object": "chat.completion", "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
        })  # fmt: skip
        return body, "application/json"
    chunks = [
        {**head, "object": "chat.completion.chunk",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"},
                      "finish_reason": None}]},
        {**head, "object": "chat.completion.chunk",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage},
    ]  # fmt: skip
    body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    return body, "text/event-stream"


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a burst's connections wait in the backlog, not time out (5)
    daemon_threads = True  # closing waits for no handler a keep-alive client still holds


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` on a free 127.0.0.1 port; yields its OpenAI-style base URL (`.../v1`)."""
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def capped_sidecar(
    upstream: str,
    store: str,
    tmp: Path,
    edit: Callable[[dict[str, Any]], None] | None = None,
    **demo: Any,
) -> Iterator[Sidecar]:
    """The demo pool on `upstream` with its store on `store` ("sqlite" or "postgres"), a $100
    total cap per tenant and no sampled judge; `edit` changes the config before it is written."""
    with empty_store_url(store, tmp / "a.db") as url:
        doc = demo_settings(upstream, Path("unused"), **demo)
        doc["store"] = {"url": url}
        doc["routing"]["judge_sample_rate"] = 0.0
        doc["budgets"] = {"caps": [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]}
        if edit is not None:
            edit(doc)
        (tmp / "a.toml").write_text(to_toml(doc))
        s = Sidecar(tmp / "a.toml").start()
        try:
            yield s
        finally:
            s.stop()


def tenant_spent(s: Sidecar, tenant: str) -> float:
    rows = s.admin("GET", f"/arbiter/budgets?tenant={tenant}").json()["data"]
    return float(next(x for x in rows if x["scope"] == f"tenant:{tenant}")["spent_usd"])
