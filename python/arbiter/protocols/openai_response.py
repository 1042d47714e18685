"""OpenAI Chat Completions responses <-> canonical types. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from arbiter.canonical import (
    CanonicalResponse,
    CanonicalUsage,
    ContentPart,
    StopReason,
    TextPart,
    ToolCallPart,
    all_counts,
    count_in,
    reported_cost,
    whole_usage,
)
from arbiter.errors import UpstreamError
from arbiter.protocols.schema_refusal import declined_schema

# OpenAI's finish words, then other OpenAI-compatible servers' words for the same ends (read
# in lower case: Gemini's layer has said "MAX_TOKENS"). Unread, a Together answer ("eos") came
# to an Anthropic client with stop_reason null, and its stream failed as "ended without a
# finish reason". A word not here (vLLM's "abort", Mistral's "error") is no finished answer.
_STOP_IN: dict[str, StopReason] = {
    "stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
    "function_call": "tool_use", "content_filter": "refusal",
    "eos": "end_turn",  # Together
    "eos_token": "end_turn",  # Text Generation Inference
    "stop_sequence": "end_turn",  # TGI; matched_stop tells which sequence, where it can
    "end_turn": "end_turn", "tool_use": "tool_use",  # Anthropic's words from a translating proxy
    "max_tokens": "max_tokens",
    "model_length": "max_tokens",  # Mistral: the context window filled up
}  # fmt: skip
_STOP_OUT: dict[StopReason, str] = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
    "tool_use": "tool_calls", "refusal": "content_filter",
}  # fmt: skip


def stop_reason_in(value: Any) -> StopReason | None:
    return _STOP_IN.get(value.lower()) if isinstance(value, str) else None


def window_filled(value: Any) -> bool:
    """The finish word says the context window filled (Mistral's `model_length`): read as
    `max_tokens`, but not the cut at the client's limit a cache may keep."""
    return isinstance(value, str) and value.lower() == "model_length"


def unfinished(model: str, value: Any) -> UpstreamError | None:
    """The failure an answer ending on `value` is, or None for a finished answer. A word not
    read above (vLLM's "abort", Mistral's "error", DeepSeek's "insufficient_system_resource")
    is no finished answer, whichever surface asked: an upstream failure, which fails over (an
    Anthropic client got it as a finished answer with stop_reason null, an OpenAI client as a
    200 whose finish_reason no SDK names). No word at all (null, absent, "": lenient
    compatible servers answer whole answers so) says nothing either way: the answer is relayed
    as it came, as before, never failed for a field the server left out."""
    if value is None or value == "" or stop_reason_in(value) is not None:
        return None
    shown = f"finish_reason {value[:40]!r}" if isinstance(value, str) else "a finish_reason"
    return UpstreamError(f"{model}: the answer ended with {shown}: no finished answer")


def finish_reason_out(reason: StopReason | None) -> str | None:
    return _STOP_OUT[reason] if reason is not None else None


def _count(raw: dict[str, Any], key: str) -> int:
    return count_in(raw.get(key))


def usage_in(raw: Any) -> CanonicalUsage:
    """OpenAI counts cached prompt tokens inside `prompt_tokens`; canonical keeps them apart.
    Reasoning tokens are part of `completion_tokens` and stay so (never more than it)."""
    usage = raw if isinstance(raw, dict) else {}
    details = usage.get("prompt_tokens_details")
    cached = _count(details, "cached_tokens") if isinstance(details, dict) else 0
    prompt = _count(usage, "prompt_tokens")
    output = _count(usage, "completion_tokens")
    out_details = usage.get("completion_tokens_details")
    reasoning = _count(out_details, "reasoning_tokens") if isinstance(out_details, dict) else 0
    return CanonicalUsage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=output,
        cache_read_input_tokens=min(cached, prompt),
        reasoning_tokens=min(reasoning, output),
        cost=reported_cost(usage),
        counted=all_counts(
            (
                usage.get("prompt_tokens"),
                usage.get("completion_tokens"),
                details.get("cached_tokens") if isinstance(details, dict) else None,
                out_details.get("reasoning_tokens") if isinstance(out_details, dict) else None,
            )
        ),
    )


def usage_out(usage: CanonicalUsage) -> dict[str, Any]:
    """Cache writes count as prompt tokens too: OpenAI has no field of their own."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_input_tokens},
    }
    if usage.cost is not None:  # an upstream's reported cost, as it said it
        out["cost"] = usage.cost
    return out


def arguments_text(arguments: Any) -> str:
    """A tool call's arguments as JSON text. Some OpenAI-compatible servers send them as an
    object rather than a string: written as JSON (str() made a Python repr, "{'city': 'Paris'}",
    which no client can parse)."""
    if isinstance(arguments, dict | list):
        try:
            return orjson.dumps(arguments).decode()
        except orjson.JSONEncodeError:
            pass
    return str(arguments or "")


def content_text(content: Any) -> str | None:
    """A message's or delta's `content` as text: a string, or the text parts of a list (Mistral's
    reasoning models send `[{"type": "thinking", ...}, {"type": "text", "text": ...}]`; the
    thinking is not the answer). None for anything else."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return None


def legacy_call(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's or delta's deprecated `function_call` as a one-call `tool_calls` (index 0,
    no id: one is made). A server that answers in that form ends with finish_reason
    "function_call", read as tool_use: the call itself was left out, and an Anthropic client
    got stop_reason tool_use without a tool_use block."""
    call = message.get("function_call")
    return [{"index": 0, "function": call}] if isinstance(call, dict) else []


def call_id_or_made(call_id: Any, response_id: Any, position: int) -> str:
    """A tool call's id, or one made from the response's id and the call's place when the
    upstream sent none (StepFun, Kimi on NVIDIA, GLM: an Anthropic client needs one to answer
    the call; the answer failed as malformed)."""
    return str(call_id) if call_id else f"call_{response_id or 'x'}_{position}"


def matched_stop(text_end: str, choice: dict[str, Any], stops: Sequence[str]) -> str | None:
    """Which of the caller's stop sequences ended an answer whose finish_reason is "stop", when
    that can be told; None when it cannot. OpenAI drops the stop string from the text and says
    "stop" for a natural end too, so from OpenAI itself it cannot be told (Anthropic's surface
    then says end_turn). Servers that can tell: vLLM names the string in `stop_reason`, SGLang
    in `matched_stop`; a server that keeps the stop string in the text (vLLM's
    include_stop_str_in_output) ends the text with it, and it stopped there, since a stop
    string it produced ends the answer at once. `text_end`: the answer's text, or its end."""
    for key in ("stop_reason", "matched_stop"):
        named = choice.get(key)
        if isinstance(named, str) and named in stops:
            return named
    for stop in sorted(stops, key=len, reverse=True):
        if stop and text_end.endswith(stop):
            return stop
    return None


def decode_response(body: Any, stops: Sequence[str] = ()) -> CanonicalResponse:
    """The first choice of an upstream's chat.completion (n > 1 never crosses protocols).
    `stops`: the caller's stop sequences, to tell a stop on one of them (matched_stop)."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
        content, refusal = content_text(message.get("content")), message.get("refusal")
        calls = message.get("tool_calls") or legacy_call(message)
        parts: list[ContentPart] = []
        if isinstance(content, str) and content:
            parts.append(TextPart(content))
        if isinstance(refusal, str) and refusal:
            parts.append(TextPart(refusal))
        for i, call in enumerate(calls):
            fn = call["function"]
            call_id = call_id_or_made(call.get("id"), body.get("id"), i)
            parts.append(
                ToolCallPart(call_id, str(fn["name"]), arguments_text(fn.get("arguments")))
            )
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        raise UpstreamError("malformed answer from an OpenAI upstream") from err
    reason = stop_reason_in(choice.get("finish_reason"))
    if reason == "end_turn" and calls:
        reason = "tool_use"  # tool calls ended by "stop" (a forced tool_choice; Gemini always)
    if isinstance(refusal, str) and refusal:
        reason = "refusal"
    sequence = None
    if reason == "end_turn" and stops:
        sequence = matched_stop(content if isinstance(content, str) else "", choice, stops)
        reason = "stop_sequence" if sequence is not None else reason
    return CanonicalResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        parts=tuple(parts),
        stop_reason=reason,
        usage=whole_usage(
            usage_in(body.get("usage")), body.get("usage"), ("prompt_tokens", "completion_tokens")
        ),
        stop_sequence=sequence,
        refusal=refusal if isinstance(refusal, str) and refusal else None,
    )


def completion_id(raw_id: str) -> str:
    return raw_id if raw_id.startswith("chatcmpl-") else "chatcmpl-" + raw_id


def encode_response(
    resp: CanonicalResponse, model: str, created: int, *, json_only: bool = False
) -> dict[str, Any]:
    """A chat.completion for an OpenAI client; `model` is the name it sees, `created` the
    Unix time (passed in: this module reads no clock). `json_only`: the caller asked a strict
    JSON schema, so text that opens as no JSON is the refusal (schema_refusal.py)."""
    calls = [p for p in resp.parts if isinstance(p, ToolCallPart)]
    refused = json_only and declined_schema(resp.text, resp.stop_reason)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if refused else resp.text if resp.text or not calls else None,
        "refusal": resp.text if refused else None,
    }
    if calls:
        message["tool_calls"] = [
            {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
            for p in calls
        ]
    return {
        "id": completion_id(resp.id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0, "message": message, "logprobs": None,
            "finish_reason": finish_reason_out(resp.stop_reason) or "stop",
        }],
        "usage": usage_out(resp.usage),
    }  # fmt: skip
