"""probe23a (streams and transport): an upstream that keeps its stream's body open after the end
event ([DONE], message_stop), a chunked body whose last chunk comes late or never (a proxy that
flushes its terminator with the next write, a server running work after its last event): the
sidecar read the body's rest for up to a second before it wrote the client's own end event, so
every such stream reached its client 1 s late (the record's latency with it), whole text and
usage in hand. The rest is now read after the client's end went out (upstream/http.py
SSEStream._drain); a body whose end has come already is still read at once, its connection
reused."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.probe23a_rig import AN, OA, Rig, head, rig

HELD_S = 4.0  # the upstream's body stays open this long after its end event


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("p23a_end")) as it:
        yield it


def _held_open(body: bytes) -> Any:
    """The whole stream in one chunk, then the chunked body's end only after HELD_S."""

    def script(sock: socket.socket, path: str, request: dict[str, Any]) -> bool:
        sock.sendall(head(content_type="text/event-stream", transfer_encoding="chunked"))
        sock.sendall(b"%x\r\n" % len(body) + body + b"\r\n")
        time.sleep(HELD_S)
        sock.sendall(b"0\r\n\r\n")
        return False

    return script


@pytest.mark.parametrize("upstream", ["oa-1", "an-1"])
@pytest.mark.parametrize("surface", ["/v1/chat/completions", "/v1/messages"])
def test_the_client_gets_its_end_when_the_upstreams_end_event_comes(
    r: Rig, upstream: str, surface: str
) -> None:
    body = OA if upstream == "oa-1" else AN
    marker = r.script(f"held-{upstream}-{surface}", _held_open(body))
    headers = (
        {"x-api-key": r.key, "anthropic-version": "2023-06-01"}
        if surface == "/v1/messages"
        else {"authorization": f"Bearer {r.key}"}
    )
    request = {
        "model": upstream, "max_tokens": 20, "stream": True,
        "messages": [{"role": "user", "content": marker}],
    }  # fmt: skip
    started = time.monotonic()
    with httpx.stream(
        "POST", r.sidecar.root_url + surface, headers=headers, json=request, timeout=20
    ) as resp:
        got = b"".join(resp.iter_raw())
        took = time.monotonic() - started
    assert resp.status_code == 200
    end = b"data: [DONE]" if surface == "/v1/chat/completions" else b"event: message_stop"
    assert end in got and b'"error"' not in got, got[-300:]
    # before: 1.0 s and more (the drain's second); the upstream sent all of it at once
    assert took < 0.8, f"the stream's end reached the client after {took:.2f} s"
    decision = r.decision(resp.headers["x-arbiter-decision-id"])
    assert decision["status"] == "ok" and decision["latency_ms"] < 800, decision


def test_a_body_ended_late_still_leaves_its_connection_for_the_next_call(r: Rig) -> None:
    def late_end(sock: socket.socket, path: str, request: dict[str, Any]) -> bool:
        sock.sendall(head(content_type="text/event-stream", transfer_encoding="chunked"))
        sock.sendall(b"%x\r\n" % len(OA) + OA + b"\r\n")
        time.sleep(0.3)
        sock.sendall(b"0\r\n\r\n")
        return True  # kept alive

    marker = r.script("late-end", late_end)
    opened = r.upstream.connections[0]
    for _ in range(3):
        chunks = r.oa.chat.completions.create(
            model="oa-1", stream=True, messages=[{"role": "user", "content": marker}]
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
        time.sleep(0.8)  # the rest read in the background, the connection back in the pool
    assert r.upstream.connections[0] - opened == 1
