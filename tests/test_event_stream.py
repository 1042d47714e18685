"""The client side of a stream: EventStreamResponse over a fake ASGI peer (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest
from starlette.background import BackgroundTask

from arbiter.event_stream import EventStreamResponse


class Client:
    """An ASGI peer: records what was sent; `leave()` makes receive() report a disconnect."""

    def __init__(self) -> None:
        self.sent: list[MutableMapping[str, Any]] = []
        self._gone = asyncio.Event()

    async def receive(self) -> MutableMapping[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self._gone.set()

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def response(body: AsyncIterator[bytes], ran: list[str]) -> EventStreamResponse:
    async def after() -> None:
        ran.append("background")

    return EventStreamResponse(body, {"x-a": "1"}, background=BackgroundTask(after))


def test_a_whole_stream_is_sent_then_the_background_runs() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        yield b"data: 2\n\n"

    async def go() -> tuple[Client, list[str]]:
        client, ran = Client(), list[str]()
        await response(body(), ran)({"type": "http"}, client.receive, client.send)
        return client, ran

    client, ran = asyncio.run(go())
    start = client.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert (b"x-a", b"1") in start["headers"]
    assert client.body() == b"data: 1\n\ndata: 2\n\n"
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert ran == ["background"]


def test_a_client_leaving_mid_stream_cancels_the_body_and_the_response_ends_cleanly() -> None:
    seen: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        try:
            await asyncio.sleep(30)  # a stalled upstream
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        yield b"never"

    async def go() -> tuple[Client, list[str], int]:
        client, ran = Client(), list[str]()
        task = asyncio.create_task(
            response(body(), ran)({"type": "http"}, client.receive, client.send)
        )
        await asyncio.sleep(0.01)
        client.leave()
        await asyncio.wait_for(task, 5)
        return client, ran, task.cancelling()

    client, ran, cancelling = asyncio.run(go())
    assert seen == ["cancelled"]
    assert client.body() == b"data: 1\n\n"
    assert ran == ["background"]  # the decision still gets recorded
    assert cancelling == 0  # our own cancel was taken back: later timeouts in the task still work


def test_a_cancel_from_outside_is_not_swallowed() -> None:
    async def body() -> AsyncIterator[bytes]:
        await asyncio.sleep(30)
        yield b""

    async def go() -> None:
        client = Client()
        task = asyncio.create_task(
            response(body(), [])({"type": "http"}, client.receive, client.send)
        )
        await asyncio.sleep(0.01)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())


def test_a_client_leaving_during_the_commit_does_not_cancel_it() -> None:
    """The relay commits the decision before its terminal event; a client that leaves then
    (it saw the last token) must not cut the commit short (anyio's shielded scope did not stop
    the disconnect watcher's plain asyncio cancel)."""
    from arbiter.relay import run_to_end

    committed: list[str] = []

    async def commit(client: Client) -> None:
        client.leave()  # the disconnect lands while the commit is in flight
        await asyncio.sleep(0.05)
        committed.append("decision")

    async def go() -> tuple[Client, list[str]]:
        client, ran = Client(), list[str]()

        async def body() -> AsyncIterator[bytes]:
            yield b"data: 1\n\n"
            await run_to_end(commit(client))
            yield b"data: [DONE]\n\n"

        await response(body(), ran)({"type": "http"}, client.receive, client.send)
        return client, ran

    client, ran = asyncio.run(go())
    assert committed == ["decision"]
    assert client.body() == b"data: 1\n\n"  # the client had gone: no [DONE] went out after it
    assert ran == ["background"]


def test_a_client_that_stops_reading_is_cut_off_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client that does not read blocks the response's send: the relay cannot end the stream
    by itself, so at the request's deadline (+ grace) the response stops, says so first (the
    decision is then recorded as deadline_exceeded), and still runs its background."""
    import time

    from arbiter import event_stream

    monkeypatch.setattr(event_stream, "DEADLINE_GRACE_S", 0.05)
    events: list[str] = []

    class NotReading(Client):
        async def send(self, message: MutableMapping[str, Any]) -> None:
            if message.get("body"):
                await asyncio.sleep(3600)  # the socket's buffers are full, the client reads nothing
            self.sent.append(message)

    async def body() -> AsyncIterator[bytes]:
        while True:
            yield b"data: 1\n\n"

    async def go() -> int:
        client = NotReading()
        r = EventStreamResponse(
            body(), {}, background=BackgroundTask(lambda: events.append("background")),
            deadline=time.monotonic() + 0.05, on_expired=lambda: events.append("expired"),
        )  # fmt: skip
        await r({"type": "http"}, client.receive, client.send)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    cancelling = asyncio.run(asyncio.wait_for(go(), 10))
    assert events == ["expired", "background"]
    assert cancelling == 0  # our own cancel was taken back
