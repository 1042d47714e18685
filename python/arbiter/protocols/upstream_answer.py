"""An upstream's answer, whichever protocol it speaks, read as canonical: the finished body
(decode_answer) or the stream (stream_decoder). Every surface that renders a canonical answer in
its own shape (the Responses API, the response cache) starts here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arbiter.canonical import CanonicalResponse, Protocol
from arbiter.protocols import anthropic_response, anthropic_stream, openai_response, openai_stream

StreamDecoder = openai_stream.StreamDecoder | anthropic_stream.StreamDecoder


def decode_answer(
    body: Any, protocol: Protocol | str, stops: Sequence[str] = (), *, thinking: bool = False
) -> CanonicalResponse:
    """`stops`: the caller's stop sequences (an OpenAI answer may name the one it stopped on);
    `thinking`: an Anthropic answer's thinking blocks kept (as the stream decoder's)."""
    if protocol == "openai":
        return openai_response.decode_response(body, stops)
    return anthropic_response.decode_response(body, thinking=thinking)


def window_filled(body: Any, protocol: Protocol | str) -> bool:
    """The answer stopped because the model's context window filled, not at a limit the
    client set (its canonical stop reason says `max_tokens` all the same)."""
    if not isinstance(body, dict):
        return False
    if protocol == "openai":
        choices = body.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        word = first.get("finish_reason") if isinstance(first, dict) else None
        return openai_response.window_filled(word)
    return anthropic_response.window_filled(body.get("stop_reason"))


def stream_decoder(
    protocol: Protocol | str, model: str, *, thinking: bool = False
) -> StreamDecoder:
    """`thinking`: an Anthropic stream's thinking blocks kept (for a client that shows them)."""
    if protocol == "openai":
        return openai_stream.StreamDecoder(model)
    return anthropic_stream.StreamDecoder(model, thinking=thinking)
