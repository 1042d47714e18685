"""Streams across protocols: a translated stream shows its finish reason only once the upstream
ended properly, so one that breaks after its last delta never looks finished to the client."""

from __future__ import annotations

import orjson

from arbiter.relay_codec import relay_codec


def _frame(kind: str, data: dict[str, object]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


FRAMES = [
    _frame(
        "message_start", {"message": {"id": "msg_1", "model": "c", "usage": {"input_tokens": 5}}}
    ),
    _frame("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    _frame("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
    _frame("content_block_stop", {"index": 0}),
    _frame("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
]


def test_an_anthropic_stream_to_an_openai_client_finishes_only_at_its_end() -> None:
    codec = relay_codec("anthropic", "openai", "claude", include_usage=True, created=1)
    sent = b"".join(codec.feed(f) for f in FRAMES)
    assert b'"Hi"' in sent and b'finish_reason":"stop' not in sent
    assert codec.finish == "stop" and codec.parts == ["Hi"]
    # the stream broke here (no message_stop): the relay sends codec.error(...), never the finish
    codec.feed(_frame("message_stop", {}))
    tail = codec.end()
    assert b'"finish_reason":"stop"' in tail and b'"completion_tokens":2' in tail
    assert codec.terminal() == b"data: [DONE]\n\n"


def test_an_openai_stream_to_an_anthropic_client_ends_with_message_stop() -> None:
    codec = relay_codec("openai", "anthropic", "gpt", include_usage=True, created=1)
    chunks = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Yo"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    ]
    sent = b"".join(codec.feed(orjson.dumps(c)) for c in chunks)
    assert b"text_delta" in sent and b"message_delta" not in sent
    tail = codec.end()
    assert b"event: message_delta" in tail and b'"stop_reason":"max_tokens"' in tail
    assert codec.terminal().startswith(b"event: message_stop")
    assert codec.finish == "length"
