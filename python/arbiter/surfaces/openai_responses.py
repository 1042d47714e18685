"""OpenAI's Responses API at the client edge: POST /v1/responses, routed like chat.

Decoding and validation are the codec's (protocols/openai_responses.py). The request becomes a
ChatRequest whose body is its Chat Completions view: an OpenAI upstream gets that body, an
Anthropic one the canonical request encoded for it (the pipeline's body_for), so routing,
failover, budgets and records are chat's. The answer, whatever the upstream's protocol, is
decoded to canonical and rendered as a Response object; a stream is translated event by event
(relay_codec.Translating with openai_responses_stream.StreamEncoder). Errors are OpenAI's shape.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import orjson

from arbiter import image_links, media, message_cap, relayed_usage
from arbiter.answer_cost import with_reported_cost
from arbiter.cache.answer import with_hit_cost_body
from arbiter.canonical import (
    CanonicalRequest,
    CanonicalResponse,
    OpaquePart,
    Protocol,
    TextPart,
    current_turn_start,
    is_thinking,
)
from arbiter.grading_hints import hints_from, take_body_field
from arbiter.protocols._check import load_json
from arbiter.protocols.openai import encode_request as chat_view
from arbiter.protocols.openai_responses import VIEW_PARAMS, decode_request
from arbiter.protocols.openai_responses_object import Echo, encode_response, response_id
from arbiter.protocols.openai_responses_stream import StreamEncoder
from arbiter.protocols.openai_stream import StreamDecoder as OpenAIStreamDecoder
from arbiter.protocols.schema_refusal import SchemaRefusals, declined_schema
from arbiter.protocols.upstream_answer import decode_answer, stream_decoder
from arbiter.relay_codec import CanonicalEncoder, RelayCodec, Translating
from arbiter.sandbox.request_tests import tests_from_field
from arbiter.surfaces.openai_chat import render_error  # noqa: F401  (this surface's errors)
from arbiter.types import ChatRequest, ChatResult, estimate_tokens


def parse_responses_request(
    raw: bytes,
    headers: Mapping[str, str] | None = None,
    max_messages: int = message_cap.DEFAULT_MAX_MESSAGES,
) -> ChatRequest:
    """A /v1/responses body -> ChatRequest (raises InvalidRequest naming the parameter)."""
    body = load_json(raw)
    message_cap.check(body, "input", max_messages)  # before any per-item work
    # the caller's grading hints, as on chat and messages: the body field never goes upstream
    field = take_body_field(body) if isinstance(body, dict) else None
    grading = hints_from(headers or {}, field)
    tests = tests_from_field(field)  # code tests for the sandbox grader (arbiter.sandbox)
    canonical, echo = decode_request(body, raw=raw)
    view = chat_view(canonical, canonical.model)
    text = canonical.text()
    # counted as chat counts its view: text by the tokenizer, images by size, PDFs by pages
    images, _audio, media_tokens = media.media_parts(view["messages"])
    carried = _carried_thinking_tokens(canonical)
    prompt_tokens = media.text_tokens(text) + media_tokens + 4 * len(view["messages"]) + carried
    return ChatRequest(
        model=canonical.model,
        messages=view["messages"],
        body=view,
        stream=canonical.stream,
        include_usage=True,
        max_tokens=canonical.max_tokens,
        response_format=view.get("response_format"),
        has_tools=bool(canonical.tools),
        has_images=canonical.has_images,
        has_pdf=canonical.has_pdf,
        prompt_text=text,
        prompt_tokens=prompt_tokens,
        unviewed_tokens=carried,
        images=images,
        linked_media=image_links.openai_responses_links(body),
        protocol="openai",
        canonical=canonical,
        stream_codec=functools.partial(_stream_codec, echo, prompt_tokens),
        surface_data=echo,
        format_param="text.format",
        messages_param="input",
        view_params=VIEW_PARAMS,
        grading=grading,
        tests=tests,
    )


def decision_of(value: str) -> str:
    """The decision id a Response's `id` (response_id's) names; any other value as it is: a
    Responses client's `response.id` is what it has at hand for /v1/feedback (the header needs
    the SDK's raw response)."""
    rest = value.removeprefix("resp_")
    return rest if rest != value and rest.startswith("dec_") else value


def _carried_thinking_tokens(canonical: CanonicalRequest) -> int:
    """The tokens of the thinking blocks the tool loop in progress carries back (reasoning
    items with Arbiter's `encrypted_content`: responses_reasoning.py): an Anthropic model reads
    them as input, so routing and the budget count them (the Chat Completions view, which the
    budget counts, has none); earlier turns' are dropped by Anthropic, so not counted."""
    start = current_turn_start(canonical.messages)
    texts = [
        p.data.get("thinking") or ""
        for m in canonical.messages[start:]
        for p in m.parts
        if isinstance(p, OpaquePart) and is_thinking(p)
    ]
    return media.text_tokens("\n".join(texts)) if texts else 0


def parse_input_tokens_request(raw: bytes) -> dict[str, Any]:
    """A /v1/responses/input_tokens body -> the Chat Completions view whose tokens are counted,
    decoded as /v1/responses decodes it. `model` may be left out (OpenAI counts without one):
    then `auto`'s; so may `input` (instructions and tools alone are counted).

    Earlier turns' reasoning (`reasoning` input items) adds nothing: an OpenAI model is sent
    none (the Chat Completions view has none), and Anthropic drops earlier turns' thinking. The
    thinking a tool loop in progress carries back to an Anthropic model (responses_reasoning.py)
    is not counted here either (this is the view's count), though /v1/responses routes and
    reserves with it (`_carried_thinking_tokens`)."""
    body = load_json(raw)
    if isinstance(body, dict) and body.get("model") is None:
        body = {**body, "model": "auto"}
    canonical, _echo = decode_request(body, count_only=True, raw=raw)
    return chat_view(canonical, canonical.model)


def _stream_codec(
    echo: Echo,
    prompt_tokens: int,
    upstream: Protocol,
    model: str,
    decision_id: str,
    created: int,
    shown: str,
    limits: relayed_usage.Limits | None,
) -> RelayCodec:
    """`prompt_tokens`: the request's count, shown where an Anthropic upstream counted none;
    `shown`: the model's name in the Response (the upstream's); `limits`: what its usage is
    held to (relayed_usage.py)."""
    # an Anthropic upstream's thinking streams as a reasoning item (openai_responses_stream.py)
    decoder = stream_decoder(upstream, model, thinking=True)
    # an OpenAI-protocol upstream's `service_tier`, echoed in the Response objects it streams
    tier = (lambda: decoder.service_tier) if isinstance(decoder, OpenAIStreamDecoder) else None
    encoder: CanonicalEncoder = StreamEncoder(response_id(decision_id), shown, echo, created, tier)
    if upstream == "anthropic" and _strict(echo):  # Claude's refusal of it: a refusal part
        encoder = SchemaRefusals(encoder)
    return Translating(decoder, encoder, prompt_tokens, limits)


def _strict(echo: Echo) -> bool:
    """Whether the request's `text.format` is a strict JSON schema."""
    fmt = echo.text_format
    return fmt.get("type") == "json_schema" and fmt.get("strict") is True


def _schema_refused(canonical: CanonicalResponse) -> CanonicalResponse:
    """An Anthropic answer to a strict schema that ends in a refusal, its last text opening as
    no JSON: that text is the refusal (schema_refusal.py), a `refusal` part as streamed."""
    texts = [p for p in canonical.parts if isinstance(p, TextPart)]
    if (
        canonical.refusal is None
        and texts
        and declined_schema(texts[-1].text, canonical.stop_reason)
    ):
        return dataclasses.replace(canonical, refusal=texts[-1].text)
    return canonical


def render_result(
    result: ChatResult,
    upstream_protocol: str,
    req: ChatRequest,
    decision_id: str,
    created: int,
    hit: bool = False,
    limits: relayed_usage.Limits | None = None,
) -> bytes:
    """The Response object for a finished answer from either protocol's upstream; a cache
    `hit`'s usage says `cost: 0`, as chat's and messages' hits do (cache/answer.py); a usage
    past `limits` (what the call could bill) shows the counts it was billed by
    (relayed_usage.py); the `service_tier` an OpenAI-protocol upstream answered is echoed (an
    Anthropic usage's tier names other values: not shown)."""
    # an Anthropic model's thinking is a reasoning item, as the stream shows it
    canonical = decode_answer(result.body, upstream_protocol, thinking=True)
    shown = relayed_usage.canonical_shown(
        canonical.usage, req.prompt_tokens, estimate_tokens(result.content), limits
    )
    if shown is not canonical.usage:
        canonical = dataclasses.replace(canonical, usage=shown)
    echo = req.surface_data
    assert isinstance(echo, Echo)
    if upstream_protocol == "anthropic" and _strict(echo):
        canonical = _schema_refused(canonical)
    tier = result.body.get("service_tier") if upstream_protocol == "openai" else None
    tier = tier[:64] if isinstance(tier, str) and tier else None  # the tier it ran at
    body = encode_response(
        canonical, response_id(decision_id), result.shown_model, echo, created, tier
    )
    with_reported_cost(body, result.body)  # an upstream's `usage.cost`, as chat's body has it
    return orjson.dumps(with_hit_cost_body(body) if hit else body)


# the Chat Completions view's fields (what an OpenAI upstream is sent) as a Responses request
# names them: an upstream's 400 that names one names the caller's field instead
_VIEW_FIELDS = {
    "messages": "input", "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens", "response_format": "text.format",
    **VIEW_PARAMS,
}  # fmt: skip


def caller_param(param: str | None) -> str | None:
    """An upstream error's `param` (a field of the Chat Completions view) in the Responses
    request's terms: `messages[2].content` is `input` (the view's messages are not the input's
    items one for one: instructions and system items are messages too), `tools[0].function.
    parameters` is `tools[0].parameters`; a field both name alike is kept."""
    if param is None:
        return None
    cut = min((i for i in (param.find("["), param.find(".")) if i >= 0), default=len(param))
    head = param[:cut]
    if head in _VIEW_FIELDS:
        return _VIEW_FIELDS[head]
    if head in ("tools", "tool_choice"):
        return param.replace(".function.", ".", 1).replace(".function", "", 1)
    return param
