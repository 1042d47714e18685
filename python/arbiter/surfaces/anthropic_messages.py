"""Anthropic's Messages API at the client edge: POST /v1/messages and /v1/messages/count_tokens.

Decoding and validation are the codec's (protocols/anthropic.py: 400s naming the field); this
module turns the canonical request into the pipeline's ChatRequest, renders a finished answer in
Anthropic's format (the upstream's own bytes when it speaks Anthropic too) and renders errors in
Anthropic's shape and statuses. Streams are rendered by relay_codec.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from arbiter import block_tokens, image_links, media, message_cap, relayed_usage
from arbiter.answer_cost import with_reported_cost
from arbiter.block_tokens import BlockCount
from arbiter.canonical import (
    CanonicalRequest,
    ImagePart,
    Message,
    OpaquePart,
    Part,
    TextPart,
    ToolResultPart,
    current_turn_start,
    is_thinking,
)
from arbiter.errors import ArbiterError
from arbiter.grading_hints import hints_from, take_body_field
from arbiter.ids import named
from arbiter.protocols import anthropic, anthropic_response, openai_response
from arbiter.protocols._check import load_json
from arbiter.protocols.openai import encode_request as openai_view
from arbiter.sandbox.request_tests import tests_from_field
from arbiter.types import ChatRequest, ChatResult, estimate_tokens

if TYPE_CHECKING:
    from arbiter.registry import ListedModel

error_bytes = anthropic_response.error_bytes
error_status = anthropic_response.error_status


def parse_messages_request(
    raw: bytes,
    headers: Mapping[str, str] | None = None,
    max_messages: int = message_cap.DEFAULT_MAX_MESSAGES,
) -> ChatRequest:
    """A /v1/messages body -> ChatRequest (raises InvalidRequest in the codec's words)."""
    body = load_json(raw)
    message_cap.check(body, "messages", max_messages)  # before any per-message work
    # the caller's grading hints: the body field goes before decoding (never forwarded upstream)
    field = take_body_field(body) if isinstance(body, dict) else None
    grading = hints_from(headers or {}, field)
    tests = tests_from_field(field)  # code tests for the sandbox grader (arbiter.sandbox)
    canonical = anthropic.decode_request(body, raw=raw)
    assert isinstance(body, dict)  # decode_request refuses anything else
    # The OpenAI view of the same request: classification reads its messages, budgets count
    # it (the top-level system prompt becomes a message there, images image parts).
    view, opaque, kept = _openai_view(canonical)
    text = canonical.text()
    images, _audio, media_tokens = media.media_parts(view["messages"])
    counted = media.text_tokens(text) + media.text_tokens(opaque.text) + opaque.tokens
    return ChatRequest(
        model=canonical.model,
        messages=view["messages"],
        body=body,
        stream=canonical.stream,
        include_usage=True,  # Anthropic streams always carry usage
        max_tokens=canonical.max_tokens,
        response_format=view.get("response_format"),
        has_tools=bool(canonical.tools),
        has_images=canonical.has_images,
        wants_thinking=anthropic.wants_thinking(body),
        has_pdf=canonical.has_pdf,
        prompt_text=text,
        prompt_tokens=counted + media_tokens + 4 * len(view["messages"]),
        images=images,
        linked_media=image_links.anthropic_links(body),
        protocol="anthropic",
        canonical=canonical,
        budget_body=view,
        unviewed_tokens=opaque.tokens,
        kept_thinking_tokens=kept,
        grading=grading,
        tests=tests,
    )


def parse_count_tokens_request(
    raw: bytes, max_messages: int = message_cap.DEFAULT_MAX_MESSAGES
) -> tuple[dict[str, Any], int, int]:
    """A /v1/messages/count_tokens body -> (the OpenAI view whose tokens are counted, the
    tokens it cannot show: a PDF's pages, a Files API reference (block_tokens.py), earlier
    turns' thinking: counted for a model that keeps it, routing.KEEPS_THINKING)."""
    body = load_json(raw)
    message_cap.check(body, "messages", max_messages)
    if isinstance(body, dict):  # Arbiter's own field, as on /v1/messages: not Anthropic's 400
        take_body_field(body)
    canonical = anthropic.decode_request(body, count_tokens=True, raw=raw)
    view, opaque, kept = _openai_view(canonical)
    return view, opaque.tokens, kept


def _openai_view(canonical: CanonicalRequest) -> tuple[dict[str, Any], BlockCount, int]:
    """The OpenAI view that classification reads and budgets count, what its opaque blocks
    hold, and the tokens of earlier turns' thinking. Blocks OpenAI has no counterpart for
    (document, thinking, ...) become their readable text (block_tokens.py), and their other
    tokens (a PDF's pages) are summed apart: the view is never sent, so it must not refuse them
    (eligibility decides where the request may go). Thinking blocks of earlier turns are left
    out (most models' API strips them from the context) and counted apart: the models that keep
    them (routing.KEEPS_THINKING) count them too."""
    if not any(_has_opaque(p) for m in canonical.messages for p in m.parts):
        return openai_view(canonical, canonical.model), BlockCount("", 0), 0
    current = current_turn_start(canonical.messages)
    texts: list[str] = []
    tokens = 0
    earlier = [
        block_tokens.of_block(p.kind, p.data)
        for m in canonical.messages[:current]
        for p in m.parts
        if isinstance(p, OpaquePart) and is_thinking(p)
    ]  # counted as one text: the tokenizer's cost stays bounded however many blocks
    kept = media.text_tokens("\n".join(c.text for c in earlier)) + sum(c.tokens for c in earlier)

    def as_text(part: TextPart | ImagePart | OpaquePart) -> TextPart | ImagePart:
        nonlocal tokens
        if not isinstance(part, OpaquePart):
            return part
        count = block_tokens.of_block(part.kind, part.data)
        texts.append(count.text)
        tokens += count.tokens
        return TextPart(count.text)

    def viewed(part: Part) -> Part:
        if isinstance(part, ToolResultPart) and _has_opaque(part):  # a Files API image, a PDF
            return dataclasses.replace(part, content=tuple(as_text(p) for p in part.content))
        return as_text(part) if isinstance(part, OpaquePart) else part

    messages = tuple(
        Message(m.role, tuple(
            viewed(p) for p in m.parts if i >= current or not is_thinking(p)
        ))
        for i, m in enumerate(canonical.messages)
    )  # fmt: skip
    view = openai_view(dataclasses.replace(canonical, messages=messages), canonical.model)
    return view, BlockCount("\n".join(t for t in texts if t), tokens), kept


def _has_opaque(part: Part) -> bool:
    if isinstance(part, ToolResultPart):
        return any(isinstance(p, OpaquePart) for p in part.content)
    return isinstance(part, OpaquePart)


def render_result(
    result: ChatResult,
    upstream_protocol: str,
    request: CanonicalRequest | None = None,
    fallback_id: str = "",
    prompt_tokens: int = 0,
    limits: relayed_usage.Limits | None = None,
) -> bytes:
    """The Message body for an answer: the upstream's bytes when it speaks Anthropic, else its
    OpenAI answer translated (`request`: the caller's, whose stop sequences the answer may
    have stopped on; `fallback_id`: the message's id when the upstream's answer has none, the
    decision's, never a bare `msg_`; an Anthropic answer without one gets it too, and one
    without a well-formed `usage` gets Arbiter's counts: relayed_usage.py, `prompt_tokens`
    the prompt's)."""
    if upstream_protocol == "anthropic":
        mend: dict[str, Any] = {}
        if not named(result.body.get("id")):  # the message's id: never empty (nor a bare msg_)
            mend["id"] = anthropic_response.message_id(fallback_id)
        usage = relayed_usage.anthropic_usage(
            result.body.get("usage"), prompt_tokens, estimate_tokens(result.content), limits
        )
        if usage is not None:
            mend["usage"] = usage
        if mend:
            return orjson.dumps({**result.body, **mend})
        return result.raw or orjson.dumps(result.body)
    stops = request.stop if request is not None else ()
    canonical = openai_response.decode_response(result.body, stops)
    if not canonical.id:
        canonical = dataclasses.replace(canonical, id=fallback_id)
    shown = relayed_usage.canonical_shown(
        canonical.usage, prompt_tokens, estimate_tokens(result.content), limits
    )
    if shown is not canonical.usage:  # translated, held to the same limits
        canonical = dataclasses.replace(canonical, usage=shown)
    body = anthropic_response.encode_response(canonical, result.shown_model)
    # an upstream's `usage.cost`, as chat's body has it (a hit's says 0 here too)
    return orjson.dumps(with_reported_cost(body, result.body))


def render_error(err: ArbiterError) -> tuple[bytes, int]:
    return error_bytes(err), error_status(err)


def models_body(models: Sequence[ListedModel], created: float) -> dict[str, Any]:
    """GET /v1/models as Anthropic lists models (anthropic_models.py pages them), plus each model's
    prices in USD per 1M tokens (null: not priced yet) and whether `auto` routes to it."""
    stamp = datetime.fromtimestamp(created, tz=UTC).isoformat().replace("+00:00", "Z")
    data = [
        {
            "type": "model",
            "id": m.name,
            "display_name": m.name,
            "created_at": stamp,
            "lifecycle": "active",
            "max_input_tokens": m.context_window,
            "max_tokens": m.max_output_tokens,
            "price_in_per_mtok": m.price_in_per_mtok,
            "price_out_per_mtok": m.price_out_per_mtok,
            "routed": m.routed,
        }
        for m in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
