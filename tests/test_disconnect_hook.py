"""Under the sidecar's protocol a `CancelOnDisconnect` block learns that its client left from
the connection itself (disconnect.py): no watcher task per request, and the request's task is
still cancelled when the connection is lost (the block raises ClientDisconnected)."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope, Send

from arbiter.disconnect import CancelOnDisconnect
from arbiter.errors import ClientDisconnected
from tests.fake_connection import connect
from tests.waiting import until_async


def test_a_lost_connection_cancels_the_block_without_a_watcher_task() -> None:
    seen: dict[str, object] = {}
    inside = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        before = len(asyncio.all_tasks())
        try:
            with CancelOnDisconnect(receive):
                seen["tasks_added"] = len(asyncio.all_tasks()) - before
                inside.set()
                await asyncio.Event().wait()  # an upstream call that never answers
        except ClientDisconnected:
            seen["outcome"] = "client_disconnected"

    async def go() -> None:
        proto, _, _ = connect(app)
        proto.data_received(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        await asyncio.wait_for(inside.wait(), 30)
        assert seen["tasks_added"] == 0  # the connection tells: no task waits on receive()
        proto.connection_lost(None)
        await until_async(lambda: "outcome" in seen, "the block ended")
        assert seen["outcome"] == "client_disconnected"

    asyncio.run(go())


def test_a_block_begun_after_the_connection_was_lost_is_cancelled_at_once() -> None:
    """A stream whose failover outlasted its client starts its block on a lost connection."""
    seen: dict[str, object] = {}
    lost = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await lost.wait()
        try:
            with CancelOnDisconnect(receive):
                await asyncio.Event().wait()
        except ClientDisconnected:
            seen["outcome"] = "client_disconnected"

    async def go() -> None:
        proto, _, _ = connect(app)
        proto.data_received(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        proto.connection_lost(None)
        lost.set()
        await until_async(lambda: "outcome" in seen, "the block ended")

    asyncio.run(go())


def test_while_reading_is_paused_for_a_pipelined_request_the_watcher_task_listens() -> None:
    """uvicorn pauses reading while a pipelined request waits: a close would go unread, so the
    block keeps the watcher, whose receive() resumes reading (as before the hook)."""
    seen: dict[str, object] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        before = len(asyncio.all_tasks())
        with CancelOnDisconnect(receive):
            seen[scope["path"]] = len(asyncio.all_tasks()) - before
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def go() -> None:
        proto, _, _ = connect(app)
        proto.data_received(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n")
        await until_async(lambda: "/b" in seen, "both requests' blocks ran")
        assert seen["/a"] == 1  # /b waits: reading paused, the watcher listens
        assert seen["/b"] == 0  # /a answered: reading resumed, the connection tells
        proto.connection_lost(None)

    asyncio.run(go())
