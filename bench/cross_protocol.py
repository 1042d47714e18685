#!/usr/bin/env python3
"""Cross-protocol overhead (issue 12): what the sidecar adds when the client and the upstream speak
different protocols (OpenAI client -> Anthropic upstream and back), next to the same-protocol
byte pass-through.

Usage: bench/cross_protocol.py [--requests N] [--stream-requests N] [--no-pin] [--no-save]
Prints a table and ends with one JSON line {"bench": "cross_protocol", ...}; writes the whole
output to bench/results/cross_protocol.txt unless --no-save.

Set-up, all on 127.0.0.1 (each process in its own session, stopped by its process-group id):
- OpenAI mock: peerbench's mock_upstream.py (../shared/tools/peerbench), run with this
  interpreter (it must have uvloop, as PEERBENCH_PYTHON allows).
- Anthropic mock: this file with --serve-anthropic-mock PORT, a raw asyncio/uvloop HTTP/1.1
  server with prebuilt bytes, mirroring mock_upstream.py: POST /v1/messages answers JSON with
  usage, or Anthropic's SSE event sequence when "stream": true; GET /health.
- The sidecar (`python -m arbiter serve`, auth open, SQLite batched, difficulty on, as in
  bench/peers/arbiter/start.sh) with an OpenAI-protocol model on the OpenAI mock and an
  Anthropic-protocol model on the Anthropic mock, pinned to CPU 1; mocks and driver on CPU 0.

Each row is one (client protocol -> upstream protocol) pair. Added latency = through the sidecar
minus direct to the same mock with the same request in the upstream's format, measured
interleaved (alternating direct and proxied batches on one keep-alive connection each,
concurrency 1). The routed row sends `auto` from an OpenAI client over a pool whose routed choice
is an Anthropic-protocol model; its direct side is the Anthropic mock. Streaming: time to the
first `data:` bytes. Sidecar CPU ms/request: utime+stime of the sidecar process
(/proc/PID/stat) summed over the proxied non-streaming batches only; `sidecar_preempted` counts
its involuntary context switches there (other processes on its CPU: they, not the sidecar, make
most of the p99 on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SELF = Path(__file__).resolve()
REPO = SELF.parents[1]


def _peerbench() -> Path:
    """PEERBENCH_DIR, else ../shared/tools/peerbench beside this checkout, or beside the main
    checkout when this is a git worktree."""
    if env := os.environ.get("PEERBENCH_DIR"):
        return Path(env)
    here = REPO.parent / "shared" / "tools" / "peerbench"
    if here.exists():
        return here
    common = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return Path(common).parent.parent / "shared" / "tools" / "peerbench" if common else here


PEERBENCH = _peerbench()
RESULTS = REPO / "bench" / "results" / "cross_protocol.txt"
GOAL_ADDED_P50_MS = 2.0
HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 10.0
PROMPT = "Say hello."
MAX_TOKENS = 32

# -- the Anthropic mock (mirrors peerbench's mock_upstream.py) -----------------------------------
A_MODEL = "mock-claude"
A_CONTENT = "Hello! This is a fixed reply from the peerbench mock upstream."
A_USAGE = {"input_tokens": 12, "output_tokens": 14}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _resp(status: str, ctype: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "request-id: req_mock\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


MSG_RESP = _resp(
    "200 OK",
    "application/json",
    _dumps(
        {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": A_MODEL,
            "content": [{"type": "text", "text": A_CONTENT}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": A_USAGE,
        }
    ),
)  # fmt: skip
HEALTH_RESP = _resp("200 OK", "text/plain", b"ok")
NOT_FOUND = _resp(
    "404 Not Found",
    "application/json",
    b'{"type":"error","error":{"type":"not_found_error","message":"not found"}}',
)
BAD_REQ = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
    b"Connection: close\r\n\r\nbad request"
)
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"request-id: req_mock\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
)


def _sse(event: dict[str, Any]) -> bytes:
    data = b"event: " + event["type"].encode() + b"\ndata: " + _dumps(event) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


EMPTY_TEXT_BLOCK = {"type": "text", "text": ""}


def anthropic_stream_bytes(k: int = 10) -> bytes:
    """One streamed answer in Anthropic's event order, chunk-framed, k text deltas."""
    words = A_CONTENT.split(" ")
    n = len(words)
    pieces = [" ".join(words[i * n // k : (i + 1) * n // k]) for i in range(k)]
    start: dict[str, Any] = {
        "id": "msg_mock", "type": "message", "role": "assistant", "model": A_MODEL,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": A_USAGE["input_tokens"], "output_tokens": 1},
    }  # fmt: skip
    out = [
        _sse({"type": "message_start", "message": start}),
        _sse({"type": "content_block_start", "index": 0, "content_block": EMPTY_TEXT_BLOCK}),
        _sse({"type": "ping"}),
    ]  # fmt: skip
    for i, piece in enumerate(pieces):
        text = piece if i == k - 1 else piece + " "
        delta = {"type": "text_delta", "text": text}
        out.append(_sse({"type": "content_block_delta", "index": 0, "delta": delta}))
    out += [
        _sse({"type": "content_block_stop", "index": 0}),
        _sse({
            "type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": A_USAGE["output_tokens"]},
        }),
        _sse({"type": "message_stop"}),
        b"0\r\n\r\n",
    ]  # fmt: skip
    return SSE_HEAD + b"".join(out)


class AnthropicMock(asyncio.Protocol):
    """HTTP/1.1 keep-alive, pipelining-safe (answers are written in order, never delayed)."""

    stream_resp = anthropic_stream_bytes()

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while (req := self._parse_one()) is not None:
            if req is False:
                self.transport.write(BAD_REQ)
                self.transport.close()
                return
            method, path, body = req
            path = path.split(b"?", 1)[0]
            if method == b"POST" and path.endswith(b"/messages"):
                stream = False
                if b'"stream"' in body:
                    with contextlib.suppress(ValueError):
                        stream = bool(json.loads(body).get("stream"))
                self.transport.write(self.stream_resp if stream else MSG_RESP)
            elif method == b"GET" and path == b"/health":
                self.transport.write(HEALTH_RESP)
            else:
                self.transport.write(NOT_FOUND)

    def _parse_one(self) -> tuple[bytes, bytes, bytes] | Literal[False] | None:
        """(method, path, body) / None (need more) / False (bad). Content-Length bodies only:
        the sidecar's transport and this driver never send chunked requests."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False if len(buf) > 65536 else None
        lines = bytes(buf[:end]).split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            return False
        clen = 0
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                try:
                    clen = int(v.strip())
                except ValueError:
                    return False
            elif k.strip().lower() == b"transfer-encoding":
                return False
        pos = end + 4
        if len(buf) < pos + clen:
            return None
        body = bytes(buf[pos : pos + clen])
        del buf[: pos + clen]
        return parts[0], parts[1], body


def serve_anthropic_mock(port: int) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(AnthropicMock, HOST, port, backlog=4096, reuse_address=True)
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, loop.stop)
    print(f"anthropic mock pid={os.getpid()} on {HOST}:{port}", file=sys.stderr, flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


# -- the driver --------------------------------------------------------------------------------
class ConnClosed(Exception):
    pass


class Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time. Times are taken in the
    callbacks (perf_counter_ns), so awaiting the future adds nothing to them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.fut: asyncio.Future[Reply] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:  # uvloop sets it already; plain asyncio does not
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnClosed("closed by the server"))

    def request(self, data: bytes) -> asyncio.Future[Reply]:
        assert self.transport is not None and self.fut is None
        self.buf.clear()
        self.head: bytes | None = None
        self.clen = -1
        self.chunked = False
        self.pos = 0
        self.t_first = 0
        loop = asyncio.get_running_loop()
        self.fut = loop.create_future()
        self.t0 = time.perf_counter_ns()
        self.transport.write(data)
        return self.fut

    def data_received(self, data: bytes) -> None:
        if self.fut is None:
            return
        self.buf += data
        buf = self.buf
        if self.head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = bytes(buf[:end])
            for line in self.head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    self.clen = int(v)
                elif k == b"transfer-encoding" and b"chunked" in v.lower():
                    self.chunked = True
            del buf[: end + 4]
        if not self.t_first and buf.find(b"data:") >= 0:
            self.t_first = time.perf_counter_ns()
        if self.chunked:
            while True:
                le = buf.find(b"\r\n", self.pos)
                if le < 0:
                    return
                size = int(bytes(buf[self.pos : le]).split(b";")[0], 16)
                if size == 0:
                    if buf.find(b"\r\n\r\n", le) < 0:
                        return
                    break
                nxt = le + 2 + size + 2
                if len(buf) < nxt:
                    return
                self.pos = nxt
        elif self.clen < 0 or len(buf) < self.clen:
            return
        t1 = time.perf_counter_ns()
        fut, self.fut = self.fut, None
        status = int(self.head.split(b" ", 2)[1])
        fut.set_result(Reply(status, t1 - self.t0, self.t_first - self.t0, self.head, bytes(buf)))


@dataclass(slots=True)
class Reply:
    status: int
    latency_ns: int
    ttfb_ns: int  # to the first `data:` bytes (negative when none came)
    head: bytes
    raw: bytes  # the body (chunk framing left in)

    def header(self, name: bytes) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == name:
                return v.strip().decode()
        return None


def request_bytes(path: str, body: dict[str, Any], port: int, anthropic: bool) -> bytes:
    payload = _dumps(body)
    auth = (
        "x-api-key: bench\r\nanthropic-version: 2023-06-01\r\n"
        if anthropic
        else "Authorization: Bearer bench\r\n"
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: cross-protocol-bench\r\n"
        f"Accept: */*\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def openai_body(model: str, stream: bool, *, upstream_side: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS,
    }  # fmt: skip
    if stream:
        body["stream"] = True
        if upstream_side:  # what the sidecar sends an OpenAI upstream (it always asks for usage)
            body["stream_options"] = {"include_usage": True}
    return body


def anthropic_body(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model, "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": PROMPT}],
    }  # fmt: skip
    if stream:
        body["stream"] = True
    return body


@dataclass(frozen=True, slots=True)
class Target:
    port: int
    plain: bytes  # the non-streaming request
    stream: bytes  # the streaming one


# the pool in sidecar_config(): which protocol each model's upstream speaks
MODEL_PROTOCOL = {
    "mock-gpt": "openai", "mock-large": "openai",
    "mock-claude": "anthropic", "mock-claude-mini": "anthropic",
}  # fmt: skip
Sample = tuple[str, str, str]  # ("lat" | "ttfb", "direct" | "proxy", upstream protocol)


@dataclass(slots=True)
class Row:
    key: str
    client: str
    upstream: str  # "mixed" for the routed row
    model: str
    directs: dict[str, Target]  # upstream protocol -> the same request straight to its mock
    proxy: Target
    check: Callable[[Reply, bool], str | None]  # what is wrong with a proxied reply, or None
    samples: dict[Sample, list[float]] = field(default_factory=dict)
    cpu_ticks: int = 0
    cpu_reqs: int = 0
    preempted: int = 0
    routed_to: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _sse_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def check_openai(reply: Reply, stream: bool) -> str | None:
    if reply.status != 200:
        return f"status {reply.status}: {reply.raw[:200]!r}"
    if stream:
        text = _sse_text(reply.raw)
        return None if "data: [DONE]" in text and '"chat.completion.chunk"' in text else "bad SSE"
    body = json.loads(reply.raw)
    got = body["choices"][0]["message"]["content"]
    return None if got == A_CONTENT else f"content {got!r}"


def check_anthropic(reply: Reply, stream: bool) -> str | None:
    if reply.status != 200:
        return f"status {reply.status}: {reply.raw[:200]!r}"
    if stream:
        text = _sse_text(reply.raw)
        ok = "event: message_start" in text and "event: message_stop" in text
        return None if ok and "text_delta" in text else "bad SSE"
    body = json.loads(reply.raw)
    got = "".join(b.get("text", "") for b in body["content"])
    return None if got == A_CONTENT else f"content {got!r}"


def preemptions(pid: int) -> int:
    """Times the sidecar was switched out while it could run: how much of its tail is other
    processes on its CPU rather than its own work."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("nonvoluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


class Driver:
    def __init__(self, sidecar_pid: int) -> None:
        self.sidecar_pid = sidecar_pid
        self.conns: dict[int, Conn] = {}

    async def conn(self, port: int) -> Conn:
        c = self.conns.get(port)
        if c is None or c.closed:
            _, c = await asyncio.get_running_loop().create_connection(Conn, HOST, port)
            self.conns[port] = c
        return c

    async def one(self, port: int, data: bytes) -> Reply:
        c = await self.conn(port)
        return await asyncio.wait_for(c.request(data), REQUEST_TIMEOUT_S)

    async def batch(self, port: int, data: bytes, n: int, stop_at: float) -> list[Reply]:
        out = []
        for _ in range(n):
            if time.monotonic() > stop_at:
                break
            out.append(await self.one(port, data))
        return out

    async def run_row(
        self, row: Row, n: int, n_stream: int, batch: int, warmup: int, stop_at: float
    ) -> None:
        for stream in (False, True):
            d_reqs = [(t.port, t.stream if stream else t.plain) for t in row.directs.values()]
            p_req = row.proxy.stream if stream else row.proxy.plain
            for reply in await self.batch(row.proxy.port, p_req, 3, stop_at):
                if (why := row.check(reply, stream)) is not None:
                    row.errors.append(f"{'stream' if stream else 'plain'}: {why}")
                    return
            for port, d_req in d_reqs:
                await self.batch(port, d_req, warmup, stop_at)
            await self.batch(row.proxy.port, p_req, warmup, stop_at)
            total = n_stream if stream else n
            done = 0
            turn = 0
            while done < total and time.monotonic() < stop_at:
                size = min(batch, total - done)
                gc.collect()
                gc.disable()  # the driver's own collections stay out of the timed batches
                try:
                    for target in ("direct", "proxy") if turn % 2 == 0 else ("proxy", "direct"):
                        if target == "direct":  # the routed row: its size split over both
                            for (port, d_req), proto in zip(d_reqs, row.directs, strict=True):
                                got = await self.batch(port, d_req, size // len(d_reqs), stop_at)
                                self._record(row, got, stream, direct=proto)
                        else:
                            t0 = cpu_ticks(self.sidecar_pid)
                            s0 = preemptions(self.sidecar_pid)
                            got = await self.batch(row.proxy.port, p_req, size, stop_at)
                            if not stream:
                                row.cpu_ticks += cpu_ticks(self.sidecar_pid) - t0
                                row.preempted += preemptions(self.sidecar_pid) - s0
                                row.cpu_reqs += len(got)
                            self._record(row, got, stream, direct=None)
                finally:
                    gc.enable()
                done += size
                turn += 1

    @staticmethod
    def _record(row: Row, replies: list[Reply], stream: bool, *, direct: str | None) -> None:
        """`direct`: the protocol of the mock asked directly; None: through the sidecar, whose
        x-arbiter-model header says which upstream (and so protocol) answered."""
        for r in replies:
            if r.status != 200:
                row.errors.append(f"{direct or 'proxy'} status {r.status}")
                continue
            if direct is None:
                model = r.header(b"x-arbiter-model") or "?"
                row.routed_to[model] = row.routed_to.get(model, 0) + 1
                key: Sample = ("", "proxy", MODEL_PROTOCOL.get(model, "?"))
            else:
                key = ("", "direct", direct)
            value = (r.ttfb_ns if stream else r.latency_ns) / 1e6
            row.samples.setdefault(("ttfb" if stream else "lat", *key[1:]), []).append(value)


# -- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def sidecar_config(workdir: Path, openai_port: int, anthropic_port: int) -> Path:
    """bench/peers/arbiter/start.sh's settings, with one upstream per protocol. `auto` is routed
    over mock-claude-mini, mock-claude (Anthropic) and mock-large (OpenAI, the baseline): a plain
    prompt goes to a cheap model, so the routed row crosses protocols; the response header
    x-arbiter-model says where each request went."""
    cfg = workdir / "arbiter.toml"

    def model(name: str, upstream: str, price_in: float, price_out: float) -> str:
        return (
            f'[models.{name}]\nupstream = "{upstream}"\nupstream_model = "{name}"\n'
            f"price_in_per_mtok = {price_in}\nprice_out_per_mtok = {price_out}\n"
            'context_window = 128000\ncapabilities = ["chat", "json", "json-schema", "tools"]\n'
        )

    cfg.write_text(
        f"""[server]
log_level = "warning"

[auth]
mode = "open"

[store]
url = "sqlite:///{workdir}/arbiter.db"
durability = "batched"

[routing]
baseline = "mock-large"
quality_target = 0.95
difficulty = true

[upstreams.openai-mock]
protocol = "openai"
base_url = "http://{HOST}:{openai_port}/v1"

[upstreams.anthropic-mock]
protocol = "anthropic"
base_url = "http://{HOST}:{anthropic_port}"

"""
        + model("mock-gpt", "openai-mock", 2.5, 10.0)
        + model("mock-large", "openai-mock", 10.0, 30.0)
        + model("mock-claude", "anthropic-mock", 3.0, 15.0)
        + model("mock-claude-mini", "anthropic-mock", 0.25, 1.25)
    )
    return cfg


class Procs:
    def __init__(self, workdir: Path, pin: bool) -> None:
        self.workdir = workdir
        self.pin = pin
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], cpu: int, env: dict[str, str] | None = None) -> int:
        if self.pin:
            argv = ["taskset", "-c", str(cpu), *argv]
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the proc
        p = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.procs.append(p)
        return p.pid

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


async def wait_ready(port: int, data: bytes, what: str, workdir: Path, within_s: float) -> None:
    stop_at = time.monotonic() + within_s
    while time.monotonic() < stop_at:
        try:
            _, c = await asyncio.get_running_loop().create_connection(Conn, HOST, port)
            try:
                reply = await asyncio.wait_for(c.request(data), 5.0)
            finally:
                assert c.transport is not None
                c.transport.close()
            if reply.status == 200:
                return
        except (OSError, ConnClosed, TimeoutError):
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{what} did not come up in {within_s:.0f} s; see {workdir}/*.log")


def get_bytes(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


# -- figures -----------------------------------------------------------------------------------
def pct(vals: list[float], p: float) -> float | None:
    if not vals:
        return None
    v = sorted(vals)
    return v[max(0, min(len(v) - 1, int(-(-p / 100 * len(v) // 1)) - 1))]


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def figures(row: Row) -> dict[str, Any]:
    """Added = proxied - direct percentiles. The routed row's direct side is both mocks in
    equal parts (their latencies agree to microseconds); its `cross_*` figures compare only the
    requests routed to an Anthropic model with the Anthropic mock."""
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")

    def vals(kind: str, side: str, proto: str | None = None) -> list[float]:
        return [
            v for (k, s, p), got in row.samples.items()
            if k == kind and s == side and proto in (None, p) for v in got
        ]  # fmt: skip

    lat_d, lat_p = vals("lat", "direct"), vals("lat", "proxy")
    ttfb_d, ttfb_p = vals("ttfb", "direct"), vals("ttfb", "proxy")
    fig: dict[str, Any] = {
        "client": row.client,
        "upstream": row.upstream,
        "model": row.model,
        "n": len(lat_p),
        "direct_p50_ms": _r(pct(lat_d, 50)),
        "proxy_p50_ms": _r(pct(lat_p, 50)),
        "added_p50_ms": _sub(pct(lat_p, 50), pct(lat_d, 50)),
        "added_p99_ms": _sub(pct(lat_p, 99), pct(lat_d, 99)),
        "direct_p99_ms": _r(pct(lat_d, 99)),
        "proxy_p99_ms": _r(pct(lat_p, 99)),
        "stream_n": len(ttfb_p),
        "stream_ttfb_added_p50_ms": _sub(pct(ttfb_p, 50), pct(ttfb_d, 50)),
        "sidecar_cpu_ms_per_req": (
            round(row.cpu_ticks * tick_ms / row.cpu_reqs, 3) if row.cpu_reqs else None
        ),
        "sidecar_preempted": row.preempted,  # during the timed non-streaming batches
        "errors": len(row.errors),
    }
    if row.model == "auto":
        fig["routed_to"] = dict(sorted(row.routed_to.items()))
        cross = "anthropic" if row.client == "openai" else "openai"
        cross_p, cross_d = vals("lat", "proxy", cross), vals("lat", "direct", cross)
        fig["cross_n"] = len(cross_p)
        fig["cross_added_p50_ms"] = _sub(pct(cross_p, 50), pct(cross_d, 50))
        fig["cross_added_p99_ms"] = _sub(pct(cross_p, 99), pct(cross_d, 99))
        fig["cross_stream_ttfb_added_p50_ms"] = _sub(
            pct(vals("ttfb", "proxy", cross), 50), pct(vals("ttfb", "direct", cross), 50)
        )
    return fig


def table(rows: list[Row], figs: dict[str, dict[str, Any]]) -> str:
    head = (
        "| row | client -> upstream | model | n | direct p50 | proxied p50 | added p50 | "
        "added p99 | stream TTFB added p50 | sidecar CPU ms/req |"
    )
    out = [head, "|" + "---|" * 10]
    for row in rows:
        f = figs[row.key]

        def s(k: str, f: dict[str, Any] = f) -> str:
            v = f.get(k)
            return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

        out.append(
            f"| {row.key} | {row.client} -> {row.upstream} | {row.model} | {f['n']} | "
            f"{s('direct_p50_ms')} | {s('proxy_p50_ms')} | {s('added_p50_ms')} | "
            f"{s('added_p99_ms')} | {s('stream_ttfb_added_p50_ms')} | "
            f"{s('sidecar_cpu_ms_per_req')} |"
        )
    return "\n".join(out)


# -- main --------------------------------------------------------------------------------------
def build_rows(openai_port: int, anthropic_port: int, sidecar_port: int) -> list[Row]:
    oa_target = Target(
        openai_port,
        request_bytes("/v1/chat/completions", openai_body("mock-gpt", False), openai_port, False),
        request_bytes(
            "/v1/chat/completions",
            openai_body("mock-gpt", True, upstream_side=True),
            openai_port,
            False,
        ),
    )

    def an_target(model: str) -> Target:
        return Target(
            anthropic_port,
            request_bytes("/v1/messages", anthropic_body(model, False), anthropic_port, True),
            request_bytes("/v1/messages", anthropic_body(model, True), anthropic_port, True),
        )

    def via_openai(model: str) -> Target:
        return Target(
            sidecar_port,
            request_bytes("/v1/chat/completions", openai_body(model, False), sidecar_port, False),
            request_bytes("/v1/chat/completions", openai_body(model, True), sidecar_port, False),
        )

    def via_anthropic(model: str) -> Target:
        return Target(
            sidecar_port,
            request_bytes("/v1/messages", anthropic_body(model, False), sidecar_port, True),
            request_bytes("/v1/messages", anthropic_body(model, True), sidecar_port, True),
        )

    oa = {"openai": oa_target}
    an = {"anthropic": an_target("mock-claude")}
    return [
        Row("openai_to_openai", "openai", "openai", "mock-gpt", oa,
            via_openai("mock-gpt"), check_openai),
        Row("openai_to_anthropic", "openai", "anthropic", "mock-claude", an,
            via_openai("mock-claude"), check_openai),
        Row("anthropic_to_anthropic", "anthropic", "anthropic", "mock-claude", an,
            via_anthropic("mock-claude"), check_anthropic),
        Row("anthropic_to_openai", "anthropic", "openai", "mock-gpt", oa,
            via_anthropic("mock-gpt"), check_anthropic),
        Row("openai_auto_routed", "openai", "mixed", "auto", {**an, **oa},
            via_openai("auto"), check_openai),
    ]  # fmt: skip


async def bench(a: argparse.Namespace, workdir: Path, out: Callable[[str], None]) -> int:
    started = time.monotonic()
    pin = not a.no_pin and (os.cpu_count() or 1) >= 2
    procs = Procs(workdir, pin)
    py = sys.executable
    openai_port, anthropic_port, sidecar_port = free_port(), free_port(), free_port()
    try:
        procs.start(
            "openai-mock",
            [py, str(PEERBENCH / "mock_upstream.py"), "--port", str(openai_port)],
            cpu=0,
        )
        procs.start(
            "anthropic-mock",
            [py, str(SELF), "--serve-anthropic-mock", str(anthropic_port)],
            cpu=0,
        )
        cfg = sidecar_config(workdir, openai_port, anthropic_port)
        env = {
            "PYTHONPATH": str(REPO / "python"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        # taskset execs the interpreter: the pid is the sidecar's own (it forks no workers)
        sidecar_pid = procs.start(
            "sidecar",
            [py, "-m", "arbiter", "serve", "--config", str(cfg), "--host", HOST,
             "--port", str(sidecar_port)],
            cpu=1, env=env,
        )  # fmt: skip
        if pin:
            os.sched_setaffinity(0, {0})
        await wait_ready(openai_port, get_bytes("/health", openai_port), "OpenAI mock", workdir, 20)
        await wait_ready(
            anthropic_port, get_bytes("/health", anthropic_port), "Anthropic mock", workdir, 20
        )
        rows = build_rows(openai_port, anthropic_port, sidecar_port)
        await wait_ready(sidecar_port, rows[0].proxy.plain, "the sidecar", workdir, 60)
        driver = Driver(sidecar_pid)
        stop_at = started + a.max_seconds
        for row in rows:
            await driver.run_row(row, a.requests, a.stream_requests, a.batch, a.warmup, stop_at)
        figs = {row.key: figures(row) for row in rows}
    finally:
        procs.stop()
    elapsed = time.monotonic() - started
    cross = [  # every cross-protocol figure the goal covers
        figs[k]["added_p50_ms"] for k in figs
        if figs[k]["upstream"] not in ("mixed", figs[k]["client"])
    ] + [figs[k]["cross_added_p50_ms"] for k in figs if figs[k]["upstream"] == "mixed"]  # fmt: skip
    met = all(v is not None and v <= GOAL_ADDED_P50_MS for v in cross) and not any(
        figs[k]["errors"] for k in figs
    )
    load = os.getloadavg()
    out("# bench/cross_protocol\n")
    out(
        f"Arbiter sidecar (python -m arbiter serve, auth open, SQLite batched, difficulty on) "
        f"{'pinned to CPU 1, mocks + driver on CPU 0' if pin else 'not pinned'}; "
        f"{os.cpu_count()} CPUs; python {platform.python_version()}; concurrency 1; "
        f"{a.requests} requests + {a.stream_requests} streamed per side per row, batches of "
        f"{a.batch} alternating direct/proxied after {a.warmup} warm-up; {elapsed:.0f} s; "
        f"1-min load average at the end {load[0]:.2f} (other work shares these CPUs). Times in "
        "ms; added = proxied - direct "
        f"(same mock, same request in the upstream's format). Goal (issue 12): cross-protocol "
        f"added p50 <= {GOAL_ADDED_P50_MS} ms.\n"
    )
    out(table(rows, figs) + "\n")
    for row in rows:
        if row.model == "auto":
            f = figs[row.key]
            out(
                f"{row.key}: x-arbiter-model counts (plain + streamed) {f['routed_to']}; the "
                f"{f['cross_n']} routed "
                f"to an Anthropic model: added p50 {f['cross_added_p50_ms']} ms, p99 "
                f"{f['cross_added_p99_ms']} ms, stream TTFB added p50 "
                f"{f['cross_stream_ttfb_added_p50_ms']} ms"
            )
        for err in row.errors[:5]:
            out(f"{row.key} ERROR: {err}")
    line = {
        "bench": "cross_protocol",
        **figs,
        "goal_added_p50_ms": GOAL_ADDED_P50_MS,
        "met": met,
        "seconds": round(elapsed, 1),
    }
    out(json.dumps(line, separators=(",", ":")))
    return 0 if not any(figs[k]["errors"] for k in figs) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="timed requests per side per row")
    ap.add_argument("--stream-requests", type=int, default=500, help="streamed, per side per row")
    ap.add_argument("--batch", type=int, default=100, help="requests per alternating batch")
    ap.add_argument("--warmup", type=int, default=200, help="untimed requests per side first")
    ap.add_argument("--max-seconds", type=float, default=170.0, help="hard bound for the run")
    ap.add_argument("--no-pin", action="store_true", help="no taskset / CPU affinity")
    ap.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS}")
    ap.add_argument("--serve-anthropic-mock", type=int, metavar="PORT", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.serve_anthropic_mock:
        serve_anthropic_mock(a.serve_anthropic_mock)
        return 0
    lines: list[str] = []

    def out(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    workdir = Path(tempfile.mkdtemp(prefix="cross-protocol-"))
    rc = asyncio.run(bench(a, workdir, out))
    if rc == 0:
        shutil.rmtree(workdir)
    else:
        print(f"logs kept in {workdir}", file=sys.stderr)
    if not a.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("\n".join(lines) + "\n")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
