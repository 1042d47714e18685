"""Whole answers of either protocol, streamed or not, whose text the probe chooses: what a
scripted upstream (hostile_upstream.py) writes after the bytes under test."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.canonical import Protocol


def _sse(events: list[dict[str, Any]], *, named: bool) -> bytes:
    out = []
    for event in events:
        name = b"event: " + event["type"].encode() + b"\n" if named else b""
        out.append(name + b"data: " + orjson.dumps(event) + b"\n\n")
    return b"".join(out)


def openai_answer(text: str, *, stream: bool) -> bytes:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    if not stream:
        return orjson.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": usage,
        })  # fmt: skip
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                               "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": usage},
    ]  # fmt: skip
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def anthropic_answer(text: str, *, stream: bool) -> bytes:
    if not stream:
        return orjson.dumps({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 2},
        })  # fmt: skip
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }  # fmt: skip
    events = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]  # fmt: skip
    return _sse(events, named=True)


def answer(protocol: Protocol, text: str, *, stream: bool) -> tuple[bytes, bytes]:
    """The content type and body of an answer saying `text`."""
    media = b"text/event-stream" if stream else b"application/json"
    make = openai_answer if protocol == "openai" else anthropic_answer
    return media, make(text, stream=stream)


def last_user_text(request_body: bytes) -> str:
    """The text of the request's last message (a string content, as the probes send it)."""
    content = orjson.loads(request_body)["messages"][-1]["content"]
    return content if isinstance(content, str) else str(content)


def answer_text(protocol: Protocol, stream: bool, body: bytes) -> str:
    """The answer's text as a client of `protocol`'s surface read it (events joined)."""
    if not stream:
        data = orjson.loads(body)
        if protocol == "openai":
            return str(data["choices"][0]["message"]["content"])
        return "".join(b["text"] for b in data["content"] if b["type"] == "text")
    parts = []
    for line in body.split(b"\n"):
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = orjson.loads(line[6:])
        if protocol == "openai":
            for choice in event.get("choices") or []:
                parts.append((choice.get("delta") or {}).get("content") or "")
        elif event.get("type") == "content_block_delta":
            parts.append(event["delta"].get("text", ""))
    return "".join(parts)
