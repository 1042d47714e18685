"""What is sent to a model: the client's own body when the model speaks the client's protocol, else
the canonical request encoded for the model's; and which models a request's protocol features keep
out (split from pipeline.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Final

from arbiter import model_params, request_log
from arbiter.canonical import Protocol
from arbiter.config import ModelSettings
from arbiter.protocols.anthropic_encode import encode_request as encode_anthropic
from arbiter.protocols.compat import Blocker, blocker, dropped
from arbiter.protocols.openai import encode_request as encode_openai
from arbiter.types import ChatRequest


async def body_to_send(
    req: ChatRequest, model: ModelSettings, protocol: Protocol
) -> dict[str, Any]:
    """body_for, in a worker thread when it encodes a big body for the other protocol: a walk
    of every message and part (100,000 tiny messages: ~0.2 s of CPU, a stall of every other
    request on the event loop). A body under the bound (surfaces/decode.py's, the one its
    decode and crossing check use) or in the client's protocol stays inline: a shallow copy,
    or an encoding that costs less than the hand-off."""
    if req.big_body and protocol != req.protocol:
        return await asyncio.to_thread(body_for, req, model, protocol)
    return body_for(req, model, protocol)


def body_for(req: ChatRequest, model: ModelSettings, protocol: Protocol) -> dict[str, Any]:
    """The body sent to `model`, whose upstream speaks `protocol`. Same protocol as the client:
    the client's own body (unknown fields kept; its own output limit under the name that model
    takes: limit_named), plus the output limit Arbiter enforces (when the client set none)
    under that name. The other protocol: the
    canonical request encoded for it (eligibility checked that it translates)."""
    if protocol == req.protocol:
        body = req.body
        if protocol == "openai":
            body = limit_named(body, model.max_tokens_param)
            body = model_params.sent_body(body, model.capabilities)
        if not req.limit_injected or req.max_tokens is None:
            return body
        name = model.max_tokens_param if protocol == "openai" else "max_tokens"
        return {**body, name: req.max_tokens}
    canonical = req.to_canonical()
    assert canonical is not None, "a request that does not translate is never sent across"
    # the limit Arbiter enforces (and reserved for) when the client set none
    limit = req.max_tokens if req.limit_injected else None
    if protocol == "anthropic":  # Anthropic requires a limit: the enforced one, else the model's
        return encode_anthropic(
            canonical,
            model.upstream_model,
            default_max_tokens=limit or model.max_output_tokens,
            structured_outputs=STRICT_SCHEMA in model.capabilities,
        )
    body = encode_openai(canonical, model.upstream_model)
    if limit is not None:
        body["max_tokens"] = limit
    if "max_tokens" in body and model.max_tokens_param != "max_tokens":
        body[model.max_tokens_param] = body.pop("max_tokens")
    return body


_LIMIT_NAMES: Final = ("max_tokens", "max_completion_tokens")


def limit_named(body: dict[str, Any], param: str) -> dict[str, Any]:
    """The client's output limit under the name `model` takes (its `max_tokens_param`): one
    OpenAI field, two names. OpenAI's reasoning models refuse `max_tokens` (400: use
    max_completion_tokens), and a server that knows only `max_tokens` ignores the other, so
    the limit Arbiter reserved for went unenforced: a client under `auto` cannot know which
    the model it gets takes. Both set is a 400 before this; null is unset, left as it came."""
    other = _LIMIT_NAMES[0] if param == _LIMIT_NAMES[1] else _LIMIT_NAMES[1]
    if body.get(other) is None or body.get(param) is not None:
        return body
    renamed = {k: v for k, v in body.items() if k != other}
    renamed[param] = body[other]
    return renamed


def cross_protocol_blocks(
    req: ChatRequest, models: Iterable[str], protocol_of: Callable[[str], Protocol]
) -> dict[str, str]:
    """Models whose protocol cannot carry this request, with the feature that stops it."""
    blocked: dict[str, str] = {}
    for name in models:
        protocol = protocol_of(name)
        if protocol == req.protocol:
            continue
        why = crossing_problem(req, protocol)
        if why is not None:
            blocked[name] = f"{protocol} API cannot carry {why}"
    return blocked


def cross_protocol_block(req: ChatRequest, protocol: Protocol) -> Blocker | None:
    """What keeps this (decodable) request from a model speaking `protocol`, with the field
    that carries it (a named model's 400 names it); None when it crosses or needs not."""
    if protocol == req.protocol or req.to_canonical() is None:
        return None
    return _crossing(req, protocol)[1]


def dropped_fields(req: ChatRequest, protocol: Protocol) -> str | None:
    """The fields (top level, by the caller's names) a model speaking `protocol` was not sent,
    comma-separated, for the answer's x-arbiter-dropped header; None when none was (the
    client's own protocol: relayed as it came). The client's `anthropic-beta` header too,
    which only an Anthropic upstream is sent (upstream/http.py)."""
    if protocol == req.protocol:
        return None
    canonical = req.to_canonical()
    if canonical is None:
        return None
    names = dropped(canonical, protocol)
    ctx = request_log.CURRENT.get()
    if protocol == "openai" and ctx is not None and ctx.anthropic_beta is not None:
        names.append("anthropic-beta")
    return ", ".join(names) or None


def crossing_problem(req: ChatRequest, protocol: Protocol) -> str | None:
    """What stops `req` from crossing to `protocol` (untranslatable's answer, or the field
    the translation could not read)."""
    return _crossing(req, protocol)[0]


def _crossing(req: ChatRequest, protocol: Protocol) -> tuple[str | None, Blocker | None]:
    """The crossing to `protocol` worked out once per request and protocol: it walks every
    message and part, and was walked again for every model of that protocol in the pool (100,000
    tiny messages: ~0.1 s a walk, on the event loop). A big body has it worked out in the
    decode's worker thread already (`precompute_crossing`)."""
    memo = req.crossing
    if memo is None:
        memo = req.crossing = {}
    elif protocol in memo:
        return memo[protocol]
    canonical = req.to_canonical()
    if canonical is None:
        found: tuple[str | None, Blocker | None] = (
            f"a field it must read to translate the request ({unreadable_field(req)})",
            None,
        )
    else:
        block = blocker(canonical, protocol)
        found = (None if block is None else block.reason, block)
    memo[protocol] = found
    return found


def precompute_crossing(req: ChatRequest) -> None:
    """Decode the canonical form and check the crossing to the other protocol now (called
    off the event loop, in a big body's decode thread: surfaces/decode.py), so routing on the
    loop reads the answer instead of walking the request."""
    _crossing(req, "anthropic" if req.protocol == "openai" else "openai")


def unreadable_field(req: ChatRequest) -> str:
    """Why the translation could not read the request, worded as OpenAI words a bad value
    ("Invalid value for 'tools': Input should be a list"); the field is `req.canonical_param`.
    A named model's 400 and `auto`'s summary of the models it ruled out both say it so."""
    param, message = req.canonical_param, req.canonical_error or "a malformed request"
    if param and message.startswith(f"{param}: "):
        message = f"Invalid value for '{param}': {message[len(param) + 2 :]}"
    return message.rstrip(".")


def wants_json(req: ChatRequest) -> bool:
    """A structured-output request: only models with the `json` capability may serve it."""
    rf = req.response_format
    return rf is not None and rf.get("type") in ("json_object", "json_schema")


# the capability of decoding constrained to a JSON schema (OpenAI's strict json_schema,
# Anthropic's output_config.format): a best-effort JSON instruction cannot promise it
STRICT_SCHEMA: Final = "json-schema"


def wants_strict_tools(req: ChatRequest) -> bool:
    """A function tool with `strict: true` (either protocol's: both constrain its input to the
    schema): translated for the other protocol, only `json-schema` models may serve it. Call
    only where the request may cross protocols (it decodes the canonical form)."""
    canonical = req.to_canonical()
    return canonical is not None and any(t.strict for t in canonical.tools)


def wants_strict_schema(req: ChatRequest) -> bool:
    """A strict JSON schema (an Anthropic client's output_config.format is one: it shows in the
    request's OpenAI view as a strict json_schema): only `json-schema` models may serve it."""
    rf = req.response_format
    if rf is None or rf.get("type") != "json_schema":
        return False
    spec = rf.get("json_schema")
    return isinstance(spec, dict) and spec.get("strict") is True
