"""An Anthropic-protocol stream relayed to an Anthropic client (same protocol: the frames as they
came) that fails after its `message_delta`: that frame was passed on at once, so the client read a
delta (`stop_reason: null`, or a stop reason the answer never reached) and then the error event.
The anthropic SDK folds it into its message snapshot (stop reason, output count) before raising,
and a client reading events saw the message's closing delta for an answer that failed. The delta
is now held, as the translating relays hold theirs, and sent only when the upstream ends properly:
a failed stream ends with its one error event, no delta before it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.adversarial.test_probe16b_usage_lies import raw_anthropic_upstream
from tests.inproc import recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks, sse

pytestmark = pytest.mark.timeout(90)

USER = [{"role": "user", "content": "Hi"}]


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _stream(stop_reason: str | None, end: str) -> bytes:
    """Text, a message_delta with `stop_reason`, then `end`: an error event, a cut (nothing
    more) or message_stop (the control)."""
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }  # fmt: skip
    events = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Hello there."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
         "usage": {"output_tokens": 4}},
    ]  # fmt: skip
    if end == "error":
        events.append({"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    elif end == "stop":
        events.append({"type": "message_stop"})
    return b"".join(_event(e) for e in events)


async def _relayed(
    tmp_path: Path, body: bytes
) -> tuple[list[str], anthropic.APIError | None, Any, bytes, dict[str, Any]]:
    """Through the anthropic SDK's stream helper: the event types it yielded, the error it
    raised, its final message (None when it raised); then the same request's raw bytes and
    recorded decision."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", body))

    async with scripted_upstream(answer) as (port, _):
        edit = raw_anthropic_upstream(port)
        async with (
            sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc,
            sdks(sc) as (claude, _),
        ):  # fmt: skip
            seen: list[str] = []
            failure: anthropic.APIError | None = None
            final = None
            try:
                async with claude.messages.stream(
                    model="an-raw",
                    max_tokens=50,
                    messages=USER,  # type: ignore[arg-type]
                ) as stream:
                    async for event in stream:
                        seen.append(event.type)
                    final = await stream.get_final_message()
            except anthropic.APIError as err:
                failure = err
            path = "/v1/messages"
            request = {"model": "an-raw", "max_tokens": 50, "messages": USER, "stream": True}
            r = await sc.client.post(path, json=request, headers=sc.auth_for(path))
            decision = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
    return seen, failure, final, r.content, decision


@pytest.mark.parametrize(
    ("stop_reason", "end"), [(None, "error"), ("end_turn", "error"), (None, "cut")]
)
def test_a_failed_relayed_stream_ends_with_its_error_and_no_delta(
    tmp_path: Path, stop_reason: str | None, end: str
) -> None:
    seen, failure, final, raw, decision = asyncio.run(_relayed(tmp_path, _stream(stop_reason, end)))
    assert failure is not None and final is None, (seen, final)
    assert "message_delta" not in seen, seen  # was seen: the SDK took its stop reason and count
    assert "text" in seen  # what came before is still relayed as it came
    frames = sse(raw)
    assert [k for k, _ in frames].count("error") == 1 and frames[-1][0] == "error", frames
    assert orjson.loads(frames[-1][1])["type"] == "error"
    assert all(k != "message_delta" and k != "message_stop" for k, _ in frames), frames
    assert decision["status"] != "ok", decision


def test_a_whole_relayed_stream_keeps_its_delta(tmp_path: Path) -> None:
    """The control: a stream that ends properly reaches the client with its delta, whose stop
    reason and count the SDK's final message carries."""
    seen, failure, final, raw, decision = asyncio.run(
        _relayed(tmp_path, _stream("end_turn", "stop"))
    )
    assert failure is None, failure
    assert seen[-2:] == ["message_delta", "message_stop"], seen
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 4, final
    assert [k for k, _ in sse(raw)][-2:] == ["message_delta", "message_stop"]
    assert decision["status"] == "ok", decision
