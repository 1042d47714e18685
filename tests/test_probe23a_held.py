"""probe23a (streams and transport): cases that held, kept because no other test checks them.

- A stream the upstream writes one byte per TCP write (every event, line end and JSON token cut
  at every byte), from both upstream protocols, read whole by the chat, messages and Responses
  surfaces.
- Events an upstream sends after its end event ([DONE], message_stop) never reach the client.
- A client that leaves while its request waits out an upstream's Retry-After pause: the call is
  not made again for nobody (the upstream is asked once), and the decision is the disconnect."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.probe22a_rig import sse
from tests.probe23a_rig import AN, OA, Rig, rig, stream, whole


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    more_retries = lambda text: text.replace("retries_per_model = 0", "retries_per_model = 2")  # noqa: E731
    with rig(tmp_path_factory.mktemp("p23a_held"), more_retries) as it:
        yield it


def _texts(r: Rig, model: str, marker: str) -> dict[str, str]:
    """The answer's text as each surface's SDK reads it from a stream."""
    chat = "".join(
        c.choices[0].delta.content or ""
        for c in r.oa.chat.completions.create(
            model=model, stream=True, messages=[{"role": "user", "content": marker}]
        )
        if c.choices
    )
    with r.an.messages.stream(
        model=model, max_tokens=20, messages=[{"role": "user", "content": marker}]
    ) as s:
        messages = "".join(s.text_stream)
        assert s.get_final_message().stop_reason == "end_turn"
    events = list(r.oa.responses.create(model=model, input=marker, stream=True))
    assert events[-1].type == "response.completed"
    responses = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    return {"chat": chat, "messages": messages, "responses": responses}


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_a_stream_written_one_byte_at_a_time_arrives_whole(r: Rig, model: str) -> None:
    body = OA if model == "oa-1" else AN
    marker = r.script(f"bytes-{model}", lambda s, p, b: stream(s, body, pieces=0))
    assert _texts(r, model, marker) == {"chat": "Hello", "messages": "Hello", "responses": "Hello"}


@pytest.mark.parametrize("model", ["oa-1", "an-1"])
def test_events_after_the_end_event_are_not_relayed(r: Rig, model: str) -> None:
    if model == "oa-1":
        extra = sse(None, {
            "id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": " EXTRA"}, "finish_reason": None}],
        })  # fmt: skip
        body = OA + extra
    else:
        body = AN + sse("content_block_delta", {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": " EXTRA"},
        })  # fmt: skip
    marker = r.script(f"after-{model}", lambda s, p, b: stream(s, body))
    assert _texts(r, model, marker) == {"chat": "Hello", "messages": "Hello", "responses": "Hello"}


def test_a_client_gone_during_a_retry_after_pause_costs_no_second_call(r: Rig) -> None:
    asked: list[float] = []

    def limited(sock: socket.socket, path: str, body: dict[str, Any]) -> bool:
        asked.append(time.monotonic())
        error = b'{"error":{"message":"slow down","type":"rate_limit_exceeded"}}'
        return whole(sock, error, "429 Too Many Requests", retry_after="2")

    marker = r.script("paused", limited)
    body = orjson.dumps({"model": "oa-1", "messages": [{"role": "user", "content": marker}]})
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"authorization: Bearer {r.key}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", r.sidecar.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        deadline = time.monotonic() + 5  # bounded: the first call comes at once
        while not asked and time.monotonic() < deadline:
            time.sleep(0.02)
        assert asked, "the upstream was never asked"
        time.sleep(0.3)  # the 429 is in; the sidecar waits out its 2 s
    time.sleep(3.0)  # past the pause: a retry would have come by now
    assert len(asked) == 1, f"asked {len(asked)} times for a client that had left"
    row = r.sidecar.admin("GET", "/arbiter/decisions?limit=1").json()["data"][0]
    assert (row["status"], row["error"]) == ("failed", "client_disconnected"), row
