"""Outside probe (seventeenth session): an upstream (or the proxy in front of it) that sends an
interim 1xx answer before the final one: a CDN's `103 Early Hints`, an unasked `100 Continue`.

RFC 9110 15.2: a client must read past any number of 1xx answers. The transport took the first
head it parsed for the answer: the call got status 103 with an empty body (a 502 "malformed
answer", or "stream ended before any content"), and since that "answer" had ended, the
connection went back to the pool while the real answer was still on its way. The next request
to that upstream, whoever sent it, reused the connection and was answered with the first
request's answer: another tenant's prompt's answer, as a 200. Interim answers are now read
past (their bytes count toward the head's 64 KiB bound), a 101 is refused, and a connection on
which an answer arrives that no request is waiting for is dropped, never reused."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from arbiter.auth import create_key
from arbiter.canonical import Protocol
from arbiter.upstream.transport import MAX_HEAD_BYTES, H1Transport
from tests.adversarial.hostile_upstream import fast_failover, keep_alive_upstream
from tests.adversarial.upstream_answers import answer, answer_text, last_user_text
from tests.inproc import raw_anthropic_upstream, raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(90)

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
HINT_TO_ANSWER_S = 0.4  # the upstream "thinks" between its hints and its answer


def _final(media: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
    return head % (media, len(body)) + body


def _hinting_upstream(protocol: Protocol, stream: bool) -> Callable[..., object]:
    """Early hints at once, then (later) the answer, which repeats the request's prompt."""

    async def respond(writer: asyncio.StreamWriter, request: bytes) -> None:
        writer.write(EARLY_HINTS)
        await writer.drain()
        await asyncio.sleep(HINT_TO_ANSWER_S)
        media, body = answer(protocol, "you said " + last_user_text(request), stream=stream)
        writer.write(_final(media, body))

    return respond


CASES = [
    ("openai", "/v1/chat/completions", "oa-raw", raw_openai_upstream),
    ("anthropic", "/v1/messages", "an-raw", raw_anthropic_upstream),
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("protocol", "path", "model", "edit"), CASES, ids=["openai", "anthropic"])
def test_each_caller_gets_its_own_answer_past_the_early_hints(
    tmp_path: Path,
    protocol: Protocol,
    path: str,
    model: str,
    edit: Callable[[int], Callable[[str], str]],
    stream: bool,
) -> None:
    """Two tenants one after the other: before, the first got a 502 and the second the
    first's answer ("you said alpha secret") as a 200."""

    async def main() -> None:
        async with keep_alive_upstream(_hinting_upstream(protocol, stream)) as (port, calls):
            config = edit(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: fast_failover(config(t))
            ) as sc:
                other = create_key(sc.services.store, "other-tenant").key
                headers_a = sc.auth_for(path)
                headers_b = {**headers_a, "authorization": f"Bearer {other}"}

                async def ask(text: str, headers: dict[str, str]) -> httpx.Response:
                    body = {
                        "model": model, "max_tokens": 50, "stream": stream,
                        "messages": [{"role": "user", "content": text}],
                    }  # fmt: skip
                    return await sc.client.post(path, json=body, headers=headers)

                first = asyncio.create_task(ask("alpha secret", headers_a))
                await asyncio.sleep(0.1)  # after the first's hints, before its answer
                second = await ask("beta", headers_b)
                first_r = await first
        for r, said in ((first_r, "alpha secret"), (second, "beta")):
            assert r.status_code == 200, r.text
            assert answer_text(protocol, stream, r.content) == "you said " + said
        assert calls[0] == 2  # no retry was needed

    asyncio.run(main())


async def _post(transport: H1Transport, port: int, text: bytes = b"{}") -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{port}") as c:
        return await c.post("/v1/x", content=text, timeout=httpx.Timeout(5.0))


def test_any_number_of_interim_answers_is_read_past_on_one_connection() -> None:
    async def respond(writer: asyncio.StreamWriter, request: bytes) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        writer.write(EARLY_HINTS * 3 + _final(b"application/json", request))

    async def main() -> None:
        async with keep_alive_upstream(respond) as (port, calls):
            transport = H1Transport()
            async with httpx.AsyncClient(
                transport=transport, base_url=f"http://127.0.0.1:{port}"
            ) as client:
                for i in range(3):
                    r = await client.post("/v1/x", content=b'{"n": %d}' % i)
                    assert r.status_code == 200
                    assert r.content == b'{"n": %d}' % i
                    assert "link" not in r.headers  # the hints' headers are not the answer's
                (pool,) = transport._pools.values()
                assert len(pool.idle) == 1  # one keep-alive connection served all three
            assert calls[0] == 3

    asyncio.run(main())


def test_endless_interim_answers_are_bounded_as_one_endless_head_is() -> None:
    sent = [0]
    endless = 8 << 20

    async def respond(writer: asyncio.StreamWriter, request: bytes) -> None:
        while sent[0] < endless:
            writer.write(EARLY_HINTS * 256)
            await writer.drain()
            sent[0] += len(EARLY_HINTS) * 256

    async def main() -> None:
        async with keep_alive_upstream(respond) as (port, _):
            with pytest.raises(httpx.RemoteProtocolError, match="response head larger"):
                await _post(H1Transport(), port)
        assert sent[0] < endless
        assert sent[0] >= MAX_HEAD_BYTES  # (it was refused for its size, not something else)

    asyncio.run(main())


def test_a_switch_of_protocols_nobody_asked_for_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def respond(writer: asyncio.StreamWriter, request: bytes) -> None:
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n"
        )
        writer.write(b"\x00\x00\x12\x04\x00\x00\x00\x00\x00")  # what h2c would send next

    async def main() -> None:
        async with keep_alive_upstream(respond) as (port, _):
            with pytest.raises(httpx.RemoteProtocolError, match="switched protocols"):
                await _post(H1Transport(), port)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text


def test_an_answer_to_no_request_drops_the_connection() -> None:
    """A second answer after the first (or one sent while the connection idles) cannot be
    paired with any request: the connection is not reused, the next request gets its own."""

    async def respond(writer: asyncio.StreamWriter, request: bytes) -> None:
        writer.write(_final(b"application/json", request))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(_final(b"application/json", b'{"stray": true}'))

    async def main() -> None:
        async with keep_alive_upstream(respond) as (port, calls):
            transport = H1Transport()
            first = await _post(transport, port, b'{"n": 1}')
            await asyncio.sleep(0.3)  # the stray answer arrives on the idle connection
            second = await _post(transport, port, b'{"n": 2}')
        assert (first.content, second.content) == (b'{"n": 1}', b'{"n": 2}')
        assert calls[0] == 2

    asyncio.run(main())


def test_an_interim_answer_then_a_close_is_not_retried() -> None:
    """A reused connection that the server closes before any byte of the answer is retried
    once on a fresh one (the server never saw the request). One that answered 100 first had
    the request: sending it again could run it twice, so the close is the call's error."""
    seen = [0]

    async def respond(writer: asyncio.StreamWriter, request: bytes) -> None:
        seen[0] += 1
        if seen[0] == 1:
            writer.write(_final(b"application/json", request))
            return
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> None:
        async with keep_alive_upstream(respond) as (port, calls):
            transport = H1Transport()
            assert (await _post(transport, port)).status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                await _post(transport, port)  # on the first call's kept connection
        assert calls[0] == 2

    asyncio.run(main())
