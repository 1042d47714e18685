"""ops25's rig: what an operator scrapes from a real `arbiter serve` child. A scripted upstream
(a marker in the prompt picks its answer), an OTLP/HTTP collector on 127.0.0.1 decoding each
export with `opentelemetry-proto`, and the sidecar's own output (its log) kept in a file."""

from __future__ import annotations

import gzip
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from arbiter.inherited_socket import loopback_listener, port_of
from tests.conftest import ENV
from tests.probe23d_rig import config_text, serve_process
from tests.scripted_upstream import ScriptedHandler, ok_chat_answer

USAGE = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
# an upstream's error text with a line end and what a forged log line would start with
FORGED = 'boom\n{"level": "error", "message": "forged"}\nERROR forged'


class Upstream(ScriptedHandler):
    """Answers "ok"; a prompt holding FAIL gets a 500 whose text holds FORGED; one holding CUT
    (a stream) its first event, then the connection closed."""

    def do_POST(self) -> None:
        body = self.read_json()
        said = orjson.dumps(body.get("messages")).decode()
        if "FAIL" in said:
            self.answer(orjson.dumps({"error": {"message": FORGED}}), status=500)
            return
        answer, kind = ok_chat_answer(body["model"], bool(body.get("stream")), USAGE)
        if "CUT" in said and body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", kind)
            self.end_headers()
            self.wfile.write(answer.split(b"\n\n", 1)[0] + b"\n\n")
            self.wfile.flush()
            self.close_connection = True
            return
        self.answer(answer, kind)


@dataclass
class Exported:
    """The spans a collector received, flattened."""

    spans: list[Span] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Collector(BaseHTTPRequestHandler):
    into: ClassVar[Exported]

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        export = ExportTraceServiceRequest.FromString(raw)
        with self.into.lock:
            self.into.paths.append(self.path)
            for rs in export.resource_spans:
                for ss in rs.scope_spans:
                    self.into.spans.extend(ss.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()


@contextmanager
def collector() -> Iterator[tuple[str, Exported]]:
    """An OTLP/HTTP traces receiver on 127.0.0.1: its base URL and what it received."""
    got = Exported()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("C", (_Collector,), {"into": got}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", got
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Served:
    root: str  # http://127.0.0.1:PORT
    log: Path  # its stdout and stderr
    proc: subprocess.Popen[str]

    def lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]


def wait_ready(root: str, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            if httpx.get(f"{root}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{root} not ready in {timeout_s} s")


@contextmanager
def served(
    tmp: Path,
    upstream: str,
    sections: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    **server: Any,
) -> Iterator[Served]:
    """`arbiter serve` on the demo pool in front of `upstream` (no auth, its store in `tmp`),
    logging at info to `tmp/out.log`, with `server` keys and `sections` set (and `env` added to
    its environment); ready when yielded, stopped (SIGTERM: its spans flushed, its records
    written) when the block ends."""
    listener = loopback_listener()  # held until the child serves on it: no other takes it
    port = port_of(listener)
    cfg = tmp / "arbiter.toml"
    cfg.write_text(
        config_text(upstream, sections, tmp / "a.db", log_level="info", port=port, **server)
    )
    log = tmp / "out.log"
    with (
        log.open("w") as out,
        serve_process(
            cfg, {**ENV, **(env or {})}, listener=listener, stdout=out, stderr=out
        ) as proc,
    ):
        root = f"http://127.0.0.1:{port}"
        wait_ready(root)
        yield Served(root, log, proc)


@contextmanager
def dead_collector(silent: bool) -> Iterator[tuple[str, list[socket.socket]]]:
    """An OTLP endpoint on 127.0.0.1: silent, one that accepts and never answers; else a port
    nothing listens on. Yields its URL and the connections it accepted."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    port = hole.getsockname()[1]
    if not silent:
        hole.close()
        yield f"http://127.0.0.1:{port}", []
        return
    hole.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        hole.settimeout(0.2)
        while not stop.is_set():
            with suppress(TimeoutError):
                held.append(hole.accept()[0])

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{port}", held
    finally:
        stop.set()
        t.join(2)
        for conn in held:
            conn.close()
        hole.close()
