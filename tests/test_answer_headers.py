"""An upstream answer's headers (upstream/answer_headers.py): read through a dict, and reading
exactly what httpx.Headers reads for the same lines."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from arbiter.upstream.answer_headers import AnswerHeaders
from arbiter.upstream.transport import H1Transport

CASES: list[list[tuple[bytes, bytes]]] = [
    [],
    [(b"Content-Type", b"application/json"), (b"Content-Length", b"12")],
    # a repeated name (any case) reads as its values joined, in order
    [(b"X-Ratelimit-Remaining", b"1"), (b"x-ratelimit-remaining", b"2"), (b"Via", b"a")],
    # values that are not ASCII: UTF-8 (httpx reads them so), then Latin-1 (no UTF-8 fits)
    [(b"x-name", "caf\u00e9".encode()), (b"x-plain", b"ok")],
    [(b"x-name", "caf\u00e9".encode("latin-1")), (b"x-plain", b"ok")],
    [(b"content-type", b"text/event-stream; charset=utf-8"), (b"x-cost-usd", b"0.5")],
]
NAMES = [
    "content-type", "Content-Type", "CONTENT-LENGTH", "x-ratelimit-remaining", "via",
    "x-name", "x-plain", "x-cost-usd", "x-absent", "content-encoding",
]  # fmt: skip


def _same(ours: httpx.Headers, theirs: httpx.Headers) -> None:
    for name in NAMES:
        assert ours.get(name) == theirs.get(name), name
        assert ours.get(name, "dflt") == theirs.get(name, "dflt"), name
        assert (name in ours) == (name in theirs), name
        assert ours.get_list(name) == theirs.get_list(name), name
        if name in theirs:
            assert ours[name] == theirs[name], name
        else:
            with pytest.raises(KeyError):
                ours[name]
    assert list(ours.keys()) == list(theirs.keys())
    assert ours.multi_items() == theirs.multi_items()
    assert ours.raw == theirs.raw
    assert ours.encoding == theirs.encoding
    assert ours == theirs and len(ours) == len(theirs)


@pytest.mark.parametrize("raw", CASES)
def test_reads_what_httpx_headers_read(raw: list[tuple[bytes, bytes]]) -> None:
    _same(AnswerHeaders(list(raw)), httpx.Headers(list(raw)))


@pytest.mark.parametrize("raw", CASES)
def test_a_mutation_is_read_back(raw: list[tuple[bytes, bytes]]) -> None:
    ours, theirs = AnswerHeaders(list(raw)), httpx.Headers(list(raw))
    _same(ours, theirs)  # the dict is built here; each change below must drop it
    for h in (ours, theirs):
        h["x-plain"] = "changed"
        h["x-absent"] = "now here"
    _same(ours, theirs)
    for h in (ours, theirs):
        del h["x-absent"]
        h.update({"via": "b", "content-encoding": "gzip"})
        h.setdefault("x-cost-usd", "1.0")
    _same(ours, theirs)


def test_lookups_after_the_first_do_not_scan_the_lines() -> None:
    h = AnswerHeaders([(b"Content-Type", b"application/json"), (b"x-a", b"1"), (b"X-A", b"2")])
    assert h.get("content-type") == "application/json"

    class NoScan(list):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("the header lines were scanned")

    h._list = NoScan(h._list)
    assert h.get("x-a") == "1, 2" and h["X-A"] == "1, 2"
    assert h.get("content-encoding") is None and "x-cost-usd" not in h
    assert h.get("x-absent", "d") == "d"


def test_the_transport_answers_with_them() -> None:
    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Ratelimit-Remaining: 7\r\n"
            b"x-ratelimit-remaining: 8\r\ncontent-length: 2\r\n\r\n{}"
        )
        await writer.drain()
        writer.close()

    async def go() -> None:
        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(
                transport=H1Transport(), base_url=f"http://127.0.0.1:{port}"
            ) as c:
                r = await c.post("/v1/x", content=b"{}", headers={"Host": "127.0.0.1"})
        finally:
            server.close()
        assert isinstance(r.headers, AnswerHeaders)
        assert r.content == b"{}" and r.json() == {}
        assert r.headers["content-type"] == "application/json"
        assert r.headers.get("X-RateLimit-Remaining") == "7, 8"
        assert r.headers.get("content-encoding") is None
        assert r.headers.raw == [
            (b"Content-Type", b"application/json"), (b"X-Ratelimit-Remaining", b"7"),
            (b"x-ratelimit-remaining", b"8"), (b"content-length", b"2"),
        ]  # fmt: skip

    asyncio.run(asyncio.wait_for(go(), 20))
