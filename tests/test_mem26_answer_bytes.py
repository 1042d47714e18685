"""`server.max_answer_bytes_in_flight` (answer_bytes.py): the bytes of large whole answers a
process holds at once are bounded. Through a real `arbiter serve`: with room for one 32 MB
answer, a second waits unread in its socket (the upstream's write does not finish) while the
first client has not taken its answer, then is read and relayed whole once it has: nothing is
refused or lost. Before, both were read at once (N answers held N times their size). The
budget itself: first come, first served, an answer over the whole budget runs alone, a
cancelled wait leaves no share behind."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import orjson

from arbiter import answer_bytes
from arbiter.answer_bytes import AnswerBytes, Lease
from arbiter.upstream.http import read_at_most
from arbiter.upstream.transport import H1Transport
from tests.probe23a_rig import rig, whole
from tests.test_mem26_gathered import _serve_once

INPUTS = 400
BUDGET = 40 * 1024 * 1024


def test_the_budget_waits_in_order_and_gives_back() -> None:
    async def main() -> None:
        b = AnswerBytes(100)
        assert await b.take(60) == 60
        second = asyncio.ensure_future(b.take(50))
        third = asyncio.ensure_future(b.take(10))  # fits, but waits its turn behind the second
        await asyncio.sleep(0.01)
        assert not second.done() and not third.done()
        b.give(60)
        assert await second == 50 and await third == 10 and b.held == 60
        whole_budget = asyncio.ensure_future(b.take(1000))  # over the budget: all of it, alone
        await asyncio.sleep(0.01)
        assert not whole_budget.done()
        gone = asyncio.ensure_future(b.take(5))
        await asyncio.sleep(0.01)
        gone.cancel()  # a cancelled wait leaves nothing taken
        await asyncio.sleep(0.01)
        b.give(50)
        b.give(10)
        assert await whole_budget == 100 and b.held == 100
        b.give(100)
        assert b.held == 0 and not b._waiting
        assert await b.take(80) == 80
        assert await b.take(50, 0.05) == 50  # waited long enough: over the budget
        assert b.held == 130 and not b._waiting
        late = asyncio.ensure_future(b.take(30))
        b.give(50)
        await asyncio.sleep(0.01)
        assert not late.done()  # 80 held: 30 more would pass the budget
        b.give(80)
        assert await late == 30 and b.held == 30

    asyncio.run(main())


def _answer() -> bytes:
    vector = [0.123456789012345] * 5000
    return orjson.dumps({
        "object": "list", "model": "oa-1",
        "data": [{"object": "embedding", "index": i, "embedding": vector} for i in range(INPUTS)],
        "usage": {"prompt_tokens": INPUTS, "total_tokens": INPUTS},
    })  # fmt: skip


def _request(port: int, key: str, marker: str) -> socket.socket:
    body = orjson.dumps({"model": "oa-1", "input": [marker] + ["x"] * (INPUTS - 1)})
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # (the answer waits for it)
    sock.settimeout(30)
    sock.sendall(
        f"POST /v1/embeddings HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {key}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def _read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    got = b""
    while b"\r\n\r\n" not in got:
        piece = sock.recv(1 << 20)
        assert piece, got
        got += piece
    head, _, body = got.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )  # fmt: skip
    pieces = [body]
    size = len(body)
    while size < length:
        piece = sock.recv(1 << 20)
        assert piece
        pieces.append(piece)
        size += len(piece)
    return head, b"".join(pieces)


def _until(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_second_large_answer_waits_for_room_and_is_relayed_whole(tmp_path: Path) -> None:
    answer = _answer()
    assert 30_000_000 < len(answer) < BUDGET < 2 * len(answer)

    def edit(text: str) -> str:
        text = text.replace("total_timeout_s = 6.0", "total_timeout_s = 60.0")
        text = text.replace("deadline_s = 8.0", "deadline_s = 90.0")
        return text.replace("[server]\n", f"[server]\nmax_answer_bytes_in_flight = {BUDGET}\n", 1)

    with rig(tmp_path, edit) as r:
        sent: list[float] = []

        def big(sock: socket.socket, path: str, body: object) -> bool:
            whole(sock, answer)
            sent.append(time.monotonic())
            return True

        marker = r.script("big", big)
        first = _request(r.sidecar.port, r.key, marker + " 1")
        try:
            assert _until(lambda: len(sent) == 1, 20)  # read by the sidecar, written in part
            second = _request(r.sidecar.port, r.key, marker + " 2")
            try:
                assert _until(lambda: r.upstream.calls("big") == 2, 10)  # its head has come
                time.sleep(1.5)
                assert len(sent) == 1  # the second answer waits, unread, for room
                head, body = _read_answer(first)
                assert b" 200 " in head.split(b"\r\n")[0] and body == answer
                assert _until(lambda: len(sent) == 2, 20)  # room: read now
                head, body = _read_answer(second)
                assert b" 200 " in head.split(b"\r\n")[0] and body == answer  # nothing lost
            finally:
                second.close()
        finally:
            first.close()


def test_a_read_without_a_length_takes_the_cap_past_1_mib_then_settles() -> None:
    body = b"x" * (3 << 20)
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (1 << 20, body[i : i + (1 << 20)]) for i in range(0, len(body), 1 << 20)
    )
    answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"
    listener, thread = _serve_once(answer)
    limit = 8 << 20

    async def go() -> tuple[bytes | None, int, int]:
        transport = H1Transport()
        url = httpx.URL(f"http://127.0.0.1:{listener.getsockname()[1]}/x")
        try:
            resp = await transport.send_bytes(url, b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n", {})
            lease = Lease()
            got = await read_at_most(resp, limit, lease)
            during = answer_bytes.BUDGET.held  # the cap's worth, taken once past 1 MiB
            lease.settle(len(got or b""))  # no request keeps it: all given back
            await resp.aclose()
            return got, during, answer_bytes.BUDGET.held
        finally:
            await transport.aclose()

    try:
        got, during, after = asyncio.run(asyncio.wait_for(go(), 30))
    finally:
        thread.join(10)
        listener.close()
    assert got == body and during == limit and after == 0
