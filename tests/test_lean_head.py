"""lean_head.LeanCycle writes what uvicorn's RequestResponseCycle writes, byte for byte, and leaves
the cycle's framing as uvicorn leaves it: every answer shape the sidecar sends (a JSON answer, a
stream, HEAD, 204, a connection that closes) on the lean path, and what it hands back to uvicorn's
code (bad lines, transfer-encoding, connection, two lengths, odd header types) raising the same."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from arbiter.lean_head import LeanCycle


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class _Flow:
    write_paused = False


_SERVER = [(b"server", b"uvicorn")]


def _cycle(
    cls: type[RequestResponseCycle],
    *,
    method: str = "POST",
    keep_alive: bool = True,
    default_headers: list[tuple[bytes, bytes]] | None = None,
    chunked: bool | None = None,
) -> tuple[RequestResponseCycle, _Transport]:
    transport = _Transport()
    cycle = cls(
        scope={"type": "http", "method": method, "http_version": "1.1"},  # type: ignore[typeddict-item]
        transport=transport,  # type: ignore[arg-type]
        flow=_Flow(),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=list(default_headers or []),
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )
    if chunked is not None:
        cycle.chunked_encoding = chunked
    return cycle, transport


def _state(cycle: RequestResponseCycle) -> tuple[Any, ...]:
    return (
        cycle.response_started,
        cycle.response_complete,
        cycle.chunked_encoding,
        cycle.expected_content_length,
        cycle.keep_alive,
        cycle.waiting_for_100_continue,
    )


async def _run(cycle: RequestResponseCycle, messages: list[Any]) -> Any:
    for message in messages:
        try:
            await cycle.send(message)
        except Exception as exc:  # the same error, of the same type, from both
            return (type(exc), str(exc))
    return None


def _start(headers: Any, status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


_JSON = [
    (b"content-type", b"application/json"),
    (b"x-arbiter-model", b"mock-gpt"),
    (b"X-Arbiter-Cost-USD", b"0.000123"),
    (b"content-length", b"2"),
    (b"x-request-id", b"abc"),
]
_CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("json", {}, [_start(_JSON), _body(b"{}")]),
    ("json, server header", {"default_headers": _SERVER}, [_start(_JSON), _body(b"{}")]),
    ("json, closing", {"keep_alive": False}, [_start(_JSON), _body(b"{}")]),
    ("json as a tuple", {}, [_start(tuple(_JSON)), _body(b"{}")]),
    ("no headers", {}, [_start([]), _body(b"x", True), _body(b"")]),
    ("no headers at all", {}, [{"type": "http.response.start", "status": 200}, _body(b"")]),
    ("stream", {}, [_start(_JSON[:3]), _body(b"data: 1\n\n", True), _body(b"")]),
    ("stream, closing", {"keep_alive": False}, [_start(_JSON[:3]), _body(b"a", True), _body(b"")]),
    ("HEAD", {"method": "HEAD"}, [_start(_JSON), _body(b"")]),
    ("HEAD, no length", {"method": "HEAD"}, [_start(_JSON[:2]), _body(b"")]),
    ("204", {}, [_start(_JSON[:2], 204), _body(b"")]),
    ("304", {}, [_start(_JSON[:2], 304), _body(b"")]),
    ("close-delimited", {"chunked": False, "keep_alive": False}, [_start(_JSON[:2]), _body(b"a")]),
    ("length when framed", {"chunked": False}, [_start(_JSON), _body(b"{}")]),
    ("too long", {}, [_start(_JSON), _body(b"{}}")]),
    ("too short", {}, [_start(_JSON), _body(b"{")]),
    ("length with spaces", {}, [_start([(b"content-length", b" 2 ")]), _body(b"ab")]),
    ("bad length", {}, [_start([(b"content-length", b"two")]), _body(b"ab")]),
    ("two lengths", {}, [_start([(b"content-length", b"2"), (b"Content-Length", b"3")])]),
    ("chunked declared", {}, [_start([(b"Transfer-Encoding", b"chunked")]), _body(b"ab")]),
    ("length then chunked", {}, [_start([*_JSON, (b"transfer-encoding", b"chunked")])]),
    ("connection close", {}, [_start([(b"connection", b"close"), *_JSON]), _body(b"{}")]),
    ("connection keep-alive", {}, [_start([(b"Connection", b"keep-alive"), *_JSON])]),
    ("bad name", {}, [_start([(b"x bad", b"1"), *_JSON])]),
    ("bad value", {}, [_start([*_JSON, (b"x-bad", b"a\r\nb")])]),
    ("bad value then bad name", {}, [_start([(b"x-a", b"a\nb"), (b"x(b", b"1")])]),
    ("str name", {}, [_start([("x-str", b"1")])]),
    ("str value", {}, [_start([(b"x-str", "1")])]),
    ("a triple", {}, [_start([(b"x-a", b"1", b"2")])]),
    ("a triple among pairs", {}, [_start([(b"x-a", b"1"), (b"x-b", b"1", b"2")])]),
    ("a bytearray name", {}, [_start([(bytearray(b"X-A"), b"1"), *_JSON]), _body(b"{}")]),
    ("a generator", {}, [_start(iter(_JSON)), _body(b"{}")]),
    ("unknown status", {}, [_start(_JSON, 999)]),
    ("body first", {}, [_body(b"{}")]),
    ("body after the end", {}, [_start(_JSON), _body(b"{}"), _body(b"x")]),
    ("start in the body", {}, [_start(_JSON[:2]), _body(b"a", True), _start(_JSON)]),
    ("bare body messages", {}, [_start(_JSON[:2]), {"type": "http.response.body", "body": b"a"}]),
    (
        "no body key",
        {},
        [
            _start(_JSON[:2]),
            {"type": "http.response.body", "more_body": True},
            {"type": "http.response.body"},
        ],
    ),
    ("empty pieces", {}, [_start(_JSON[:2]), _body(b"", True), _body(b"a", True), _body(b"")]),
    ("a bytearray piece", {}, [_start(_JSON[:2]), _body(bytearray(b"ab"), True), _body(b"")]),
    ("a memoryview piece", {}, [_start(_JSON[:2]), _body(memoryview(b"ab"), True), _body(b"")]),
    ("a str piece", {}, [_start(_JSON[:2]), _body("ab", True)]),  # type: ignore[arg-type]
    ("a str body with a length", {}, [_start(_JSON), _body("{}")]),  # type: ignore[arg-type]
    ("length in pieces", {}, [_start(_JSON), _body(b"{", True), _body(b"}")]),
    ("HEAD in pieces", {"method": "HEAD"}, [_start(_JSON[:2]), _body(b"a", True), _body(b"")]),
    ("closing in pieces", {"keep_alive": False}, [_start(_JSON), _body(b"{", True), _body(b"}")]),
    ("started twice", {}, [_start(_JSON), _start(_JSON)]),
]


@pytest.mark.parametrize(("name", "how", "messages"), _CASES, ids=[c[0] for c in _CASES])
def test_lean_head_writes_what_uvicorn_writes(
    name: str, how: dict[str, Any], messages: list[Any]
) -> None:
    async def both() -> None:
        uv, uv_out = _cycle(RequestResponseCycle, **how)
        lean, lean_out = _cycle(LeanCycle, **how)
        # a generator is read once: each cycle gets its own
        copies = [
            {**m, "headers": iter(_JSON)} if isinstance(m.get("headers"), type(iter([]))) else m
            for m in messages
        ]
        uv_error = await _run(uv, copies)
        copies = [
            {**m, "headers": iter(_JSON)} if isinstance(m.get("headers"), type(iter([]))) else m
            for m in messages
        ]
        lean_error = await _run(lean, copies)
        assert lean_error == uv_error
        assert b"".join(lean_out.writes) == b"".join(uv_out.writes)
        assert lean_out.closed == uv_out.closed
        assert _state(lean) == _state(uv)

    asyncio.run(both())


def test_the_sidecars_answers_take_the_lean_path() -> None:
    """The usual answer, head and body, is written by LeanCycle's own code, not handed back
    (else the cases above would pass with nothing lean left)."""

    async def lean() -> None:
        cycle, out = _cycle(LeanCycle)
        handed_back: list[Any] = []
        original = RequestResponseCycle.send

        async def spy(self: Any, message: Any) -> None:
            handed_back.append(message["type"])
            await original(self, message)

        RequestResponseCycle.send = spy  # type: ignore[method-assign]
        try:
            await cycle.send(_start(_JSON))
            await cycle.send(_body(b"{}"))
        finally:
            RequestResponseCycle.send = original  # type: ignore[method-assign]
        assert handed_back == []
        assert out.writes[0].startswith(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
        assert b"x-arbiter-cost-usd: 0.000123\r\n" in out.writes[0]

    asyncio.run(lean())
