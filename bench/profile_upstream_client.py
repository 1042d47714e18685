"""CPU cost per upstream call of candidate HTTP clients, against a running peerbench mock.

Compares httpx.AsyncClient (what the sidecar uses), httpx2 (pydantic's fork, if installed),
httpcore's pool without httpx on top, and a minimal asyncio-Protocol keep-alive client (a floor
for any Python client on uvloop). Bounded: a fixed number of requests per case.
Usage: python bench/profile_upstream_client.py --url http://127.0.0.1:PORT/v1 [-n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvloop

BODY = orjson.dumps(
    {"model": "mock-gpt", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 32}
)
Call = Callable[[], Awaitable[bytes]]


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; content-length bodies only (the mock's answers)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.buf = bytearray()
        self.fut: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.fut is None:
            return
        head = bytes(self.buf[:end]).lower()
        i = head.find(b"content-length:")
        clen = int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None])
        if len(self.buf) >= end + 4 + clen:
            body = bytes(self.buf[end + 4 : end + 4 + clen])
            del self.buf[: end + 4 + clen]
            self.fut.set_result(body)
            self.fut = None


class RawPool:
    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port = host, port
        self.idle: list[_Conn] = []
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\ncontent-type: application/json\r\n"
        ).encode()

    async def post(self, body: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        conn = self.idle.pop() if self.idle else None
        if conn is None:
            _, conn = await loop.create_connection(_Conn, self.host, self.port)
        assert conn.transport is not None
        conn.fut = loop.create_future()
        conn.transport.write(self.head + b"content-length: %d\r\n\r\n" % len(body) + body)
        out = await conn.fut
        self.idle.append(conn)
        return out


async def _drive(call: Call, n: int, c: int) -> tuple[float, float]:
    """(cpu ms per request, wall µs per request) for n requests at concurrency c."""
    for _ in range(min(n // 10, 200)):
        await call()
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu * 1000 / n, wall * 1e6 / n


def _httpx_like(mod_name: str, base: str) -> tuple[Call, Any]:
    mod: Any = importlib.import_module(mod_name)
    client = mod.AsyncClient(
        base_url=base,
        headers={"content-type": "application/json"},
        limits=mod.Limits(max_connections=512, max_keepalive_connections=128),
        trust_env=False,
    )

    async def call() -> bytes:
        r = await client.post("/chat/completions", content=BODY)
        return bytes(r.content)

    return call, client


def _httpx_raw_transport(base: str, raw: RawPool) -> tuple[Call, Any]:
    """httpx's client API on a raw asyncio transport: what httpx's own layers cost."""
    import httpx

    class RawTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            body = await raw.post(request.content)
            return httpx.Response(
                200, headers=[(b"content-type", b"application/json")], content=body
            )

    client = httpx.AsyncClient(
        base_url=base, headers={"content-type": "application/json"}, transport=RawTransport()
    )

    async def call() -> bytes:
        r = await client.post("/chat/completions", content=BODY)
        return bytes(r.content)

    return call, client


def _httpcore(base: str) -> tuple[Call, Any]:
    import httpcore

    pool = httpcore.AsyncConnectionPool(max_connections=512, max_keepalive_connections=128)
    url = base + "/chat/completions"
    hdrs = [(b"content-type", b"application/json")]

    async def call() -> bytes:
        r = await pool.request("POST", url, headers=hdrs, content=BODY)
        return bytes(r.content)

    return call, pool


async def _main(base: str, n: int, cs: list[int]) -> None:
    from urllib.parse import urlsplit

    u = urlsplit(base)
    raw = RawPool(u.hostname or "127.0.0.1", u.port or 80, u.path + "/chat/completions")
    cases: list[tuple[str, Call]] = [("raw asyncio.Protocol", lambda: raw.post(BODY))]
    closers = []
    for name in ("httpx", "httpx2"):
        try:
            call, client = _httpx_like(name, base)
        except ImportError:
            continue
        cases.append((f"{name}.AsyncClient", call))
        closers.append(client.aclose)
    call, client = _httpx_raw_transport(base, raw)
    cases.append(("httpx.AsyncClient on a raw transport", call))
    closers.append(client.aclose)
    call, pool = _httpcore(base)
    cases.append(("httpcore.AsyncConnectionPool", call))
    closers.append(pool.aclose)
    print("| client | C | CPU ms/req | wall µs/req |\n|---|---|---|---|")
    for c in cs:
        for name, call in cases:
            cpu, wall = await _drive(call, n, c)
            print(f"| {name} | {c} | {cpu:.3f} | {wall:.0f} |", flush=True)
    for close in closers:
        await close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True, help="mock base URL, http://127.0.0.1:PORT/v1")
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("-c", default="1,50")
    a = ap.parse_args(argv)
    uvloop.run(_main(a.url.rstrip("/"), min(a.n, 100_000), [int(x) for x in a.c.split(",")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
