"""The Responses API's Response object (POST /v1/responses' answer) from canonical output. Pure:
no I/O, no clock. `Echo`: the request's parameters the Response repeats, as OpenAI's does
(decoded by openai_responses.decode_request); `encode_response`: a finished answer; the output
items and `response_object` the stream encoder (openai_responses_stream.py) builds its events
from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arbiter.canonical import (
    CanonicalResponse,
    CanonicalUsage,
    ContentPart,
    StopReason,
    TextPart,
    Thought,
)
from arbiter.protocols.responses_reasoning import encrypted_content, reasoning_item


@dataclass(frozen=True, slots=True)
class Echo:
    """The request's parameters as the Response object repeats them."""

    instructions: str | None = None
    max_output_tokens: int | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    text_format: dict[str, Any] = field(default_factory=lambda: {"type": "text"})
    verbosity: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    # `include` asked for reasoning.encrypted_content: an Anthropic thinking block's signature
    # rides on its reasoning item (responses_reasoning.py)
    encrypted_reasoning: bool = False


def usage_out(usage: CanonicalUsage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "cache_write_tokens": usage.cache_creation_input_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
    }
    if usage.cost is not None:  # an upstream's reported cost (a stream's final usage says it)
        out["cost"] = usage.cost
    return out


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [] if status == "in_progress" else [output_text(text)]
    return {
        "id": item_id, "type": "message", "role": "assistant", "status": status,
        "content": content,
    }  # fmt: skip


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id, "type": "function_call", "call_id": call_id, "name": name,
        "arguments": arguments, "status": status,
    }  # fmt: skip


def output_items(
    response_id: str,
    parts: tuple[ContentPart, ...],
    thoughts: tuple[Thought, ...] = (),
    carry: bool = False,
) -> list[dict[str, Any]]:
    """Consecutive text parts are one message item; each tool call is a function_call item;
    each thought (an Anthropic thinking block) a reasoning item where it came in the answer
    (`carry`: with its `encrypted_content`, as the request's `include` asked)."""
    items: list[dict[str, Any]] = []
    text: list[str] = []
    answered = False  # a message or function_call item is out: no empty message needed

    def end_text() -> None:
        nonlocal text, answered
        if text:
            items.append(message_item(item_id(response_id, "msg", len(items)), "".join(text)))
            text, answered = [], True

    pending = iter(thoughts)
    thought = next(pending, None)
    for at, part in enumerate((*parts, None)):
        while thought is not None and thought.at <= at:
            if not (thought.text or carry):  # redacted: an item saying nothing is left out
                thought = next(pending, None)
                continue
            end_text()
            encrypted = encrypted_content(thought.signature, thought.redacted)
            items.append(
                reasoning_item(
                    item_id(response_id, "rs", len(items)), thought.text, "completed",
                    encrypted, carry=carry,
                )
            )  # fmt: skip
            thought = next(pending, None)
        if part is None:
            break
        if isinstance(part, TextPart):
            text.append(part.text)
            continue
        end_text()
        answered = True
        items.append(
            function_call_item(
                item_id(response_id, "fc", len(items)), part.id, part.name, part.arguments
            )
        )
    if text or not answered:
        items.append(message_item(item_id(response_id, "msg", len(items)), "".join(text)))
    return items


def item_id(response_id: str, kind: str, index: int) -> str:
    return f"{kind}_{response_id.removeprefix('resp_')}_{index}"


def response_id(decision_id: str) -> str:
    return "resp_" + decision_id


_INCOMPLETE: dict[StopReason, str] = {
    "max_tokens": "max_output_tokens",
    "refusal": "content_filter",
}


def incomplete_reason(stop_reason: StopReason | None) -> str | None:
    """`incomplete_details.reason` for an answer cut short (the output limit, a filter)."""
    return _INCOMPLETE.get(stop_reason) if stop_reason is not None else None


def response_object(
    rid: str,
    created_at: int,
    model: str,
    echo: Echo,
    *,
    output: list[dict[str, Any]],
    status: str,
    stop_reason: StopReason | None = None,
    usage: CanonicalUsage | None = None,
    completed_at: int | None = None,
    error: dict[str, Any] | None = None,
    service_tier: str | None = None,
) -> dict[str, Any]:
    """`service_tier`: the tier an OpenAI-protocol upstream answered it ran at, echoed as
    OpenAI's Response says it (absent when none was said: nothing made up)."""
    incomplete = incomplete_reason(stop_reason)
    if incomplete is not None and status == "completed":
        status = "incomplete"
    body = {
        "id": rid,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": completed_at if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": echo.instructions,
        "max_output_tokens": echo.max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": echo.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": echo.reasoning_effort, "summary": echo.reasoning_summary},
        "store": False,
        "temperature": echo.temperature,
        "text": {"format": echo.text_format, "verbosity": echo.verbosity or "medium"},
        "tool_choice": echo.tool_choice,
        "tools": echo.tools,
        "top_p": echo.top_p,
        "truncation": "disabled",
        "metadata": echo.metadata,
    }
    if usage is not None:  # not nullable in the spec: absent until known
        body["usage"] = usage_out(usage)
    if echo.user is not None:  # the spec's `user` is a string, not nullable
        body["user"] = echo.user
    if service_tier is not None:
        body["service_tier"] = service_tier
    return body


def encode_response(
    resp: CanonicalResponse,
    rid: str,
    model: str,
    echo: Echo,
    created_at: int,
    service_tier: str | None = None,
) -> dict[str, Any]:
    """A finished answer as a Response object (`created_at` passed in: no clock here). Cut
    short, its last item (the one cut) says `incomplete`, as OpenAI's do. `service_tier`: the
    upstream's (response_object)."""
    if resp.refusal is not None:
        body = _refused(resp, rid, model, echo, created_at)
        if service_tier is not None:
            body["service_tier"] = service_tier
        return body
    output = output_items(rid, resp.parts, resp.thoughts, echo.encrypted_reasoning)
    if incomplete_reason(resp.stop_reason) is not None:
        output[-1]["status"] = "incomplete"
    return response_object(
        rid, created_at, model, echo,
        output=output, status="completed", stop_reason=resp.stop_reason,
        usage=resp.usage, completed_at=created_at, service_tier=service_tier,
    )  # fmt: skip


def _refused(
    resp: CanonicalResponse, rid: str, model: str, echo: Echo, created_at: int
) -> dict[str, Any]:
    """A refusal as OpenAI's Responses API gives one: a `refusal` part in the message (after
    any text), the response completed. As an `output_text` part the SDK's `responses.parse`
    would run the refusal through the caller's model and raise instead of showing it."""
    refusal = resp.refusal
    parts = list(resp.parts)
    last_text = max((i for i, p in enumerate(parts) if isinstance(p, TextPart)), default=None)
    if last_text is not None and parts[last_text] == TextPart(refusal or ""):
        del parts[last_text]  # the refusal's copy as text (decode_response adds it last)
    output = (
        output_items(rid, tuple(parts), resp.thoughts, echo.encrypted_reasoning) if parts else []
    )
    message = next((item for item in output if item["type"] == "message"), None)
    if message is None:
        message = message_item(item_id(rid, "msg", len(output)), "")
        message["content"] = []
        output.append(message)
    message["content"].append({"type": "refusal", "refusal": refusal})
    return response_object(
        rid, created_at, model, echo,
        output=output, status="completed", usage=resp.usage, completed_at=created_at,
    )  # fmt: skip
