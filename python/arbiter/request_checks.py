"""What a request rules out before routing: the models `auto` may not pick for it, and the checks
a named model must pass. Both run before anything is reserved, so a request no model (or not the
named one) can serve is a 400 in the caller's shape, never an upstream refusal after a charge.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from arbiter import model_params, sampling, thinking_types
from arbiter.canonical import Protocol
from arbiter.config import ModelSettings
from arbiter.errors import ContextTooLong, InvalidRequest, NoCapableModel, UnknownModel
from arbiter.implied_capabilities import ADAPTIVE, INTERLEAVED
from arbiter.principal import Principal
from arbiter.routing_types import PoolModel, context_need
from arbiter.types import ChatRequest
from arbiter.upstream_body import (
    STRICT_SCHEMA,
    cross_protocol_block,
    cross_protocol_blocks,
    unreadable_field,
    wants_json,
    wants_strict_schema,
    wants_strict_tools,
)

if TYPE_CHECKING:
    from arbiter.services import Services


# the capabilities a named model must have for a request that carries (or asks for) them
_MEDIA = {
    "vision": "the request carries an image",
    "audio": "the request carries or asks for audio",
    "thinking": "the request asks for extended thinking",
    "pdf": "the request carries a PDF document or file",
    ADAPTIVE: "the request asks for thinking of type `adaptive`",
    INTERLEAVED: "the request asks for interleaved thinking (anthropic-beta)",
}


def needs_of(req: ChatRequest) -> frozenset[str]:
    """The capabilities a routed request needs of its model."""
    needs = set()
    if req.has_tools:
        needs.add("tools")
    if req.has_images:
        needs.add("vision")
    if wants_json(req):
        needs.add("json")
    if req.has_audio:
        needs.add("audio")
    if req.wants_thinking:
        needs.add("thinking")
        needs.update(thinking_types.asked(req.body))
    if req.has_pdf:
        needs.add("pdf")
    return frozenset(needs)


def blocked_for(
    s: Services, req: ChatRequest, task: str, principal: Principal
) -> dict[str, str] | None:
    """Models `auto` may not pick for `req`, each with why (None: none is)."""
    blocked = (
        cross_protocol_blocks(req, (m.name for m in s.pool), s.protocol_of)
        if s.protocols != {req.protocol}
        else None  # every model speaks the client's protocol: nothing to check
    )
    if s.protocols != {req.protocol} and (wants_strict_schema(req) or wants_strict_tools(req)):
        schemaless = _schemaless_crossing(s, req)
        if schemaless:
            blocked = {**schemaless, **(blocked or {})}
    challengers = s.shadow.blocked(task)  # None unless challengers exist
    if challengers:
        blocked = {**challengers, **(blocked or {})}
    blocked = sampling.blocks(req.body, s.pool, blocked)  # temperature with top_p
    if req.protocol == "openai":  # logprobs, reasoning_effort: to the models that take them
        blocked = model_params.blocks(
            req.body, s.pool, lambda name: s.protocol_of(name) == "openai", blocked,
            lambda field: blocked_param(req, field),
        )  # fmt: skip
    short = s.output_limits.blocks(req.max_tokens, principal.allowed_models)
    if short:  # a max_tokens over some models' output limit, that another can write
        blocked = {**short, **(blocked or {})}
    return blocked


def _schemaless_crossing(s: Services, req: ChatRequest) -> dict[str, str]:
    """Models of the other protocol without `json-schema`: a strict schema or strict tool
    translated for them needs their own structured outputs. The client's own protocol relays
    it as it came, and that upstream decides, as it did before schemas crossed protocols."""
    return {
        m.name: f"lacks the `{STRICT_SCHEMA}` capability a translated strict schema or tool needs"
        for m in s.pool
        if s.protocol_of(m.name) != req.protocol and STRICT_SCHEMA not in m.capabilities
    }


def named_model(s: Services, req: ChatRequest, principal: Principal) -> ModelSettings:
    """The model the request names, once it may serve it; else the error the caller reads."""
    model = s.registry.get(req.model)  # a `no-route` model too: callable by name, never routed
    # a model the key may not use is answered as an unknown one (OpenAI's 404): a 403 would
    # tell the tenant that the model exists
    hidden = principal.allowed_models is not None and req.model not in principal.allowed_models
    if model is None or hidden:
        raise UnknownModel(
            f"The model `{req.model[:128]}` does not exist or you do not have access to it.",
            param="model",
        )
    if wants_json(req) and "json" not in model.capabilities:
        kind = req.response_format.get("type") if req.response_format else ""
        raise InvalidRequest(
            f"The model `{req.model}` cannot serve {format_param(req)} {kind}: it lacks "
            "the `json` capability.",
            param=format_param(req),
        )
    if (
        wants_strict_schema(req)
        and s.protocol_of(req.model) != req.protocol
        and STRICT_SCHEMA not in model.capabilities
    ):
        raise InvalidRequest(
            f"The model `{req.model}` cannot serve a strict JSON schema "
            f"({format_param(req)}) sent in the other protocol's form: it lacks the "
            f"`{STRICT_SCHEMA}` capability.",
            param=format_param(req),
        )
    if (
        s.protocol_of(req.model) != req.protocol
        and STRICT_SCHEMA not in model.capabilities
        and wants_strict_tools(req)
    ):
        raise InvalidRequest(
            f"The model `{req.model}` cannot serve a strict function tool sent in the other "
            f"protocol's form: it lacks the `{STRICT_SCHEMA}` capability (structured outputs) "
            "that constrains a tool's input to its schema.",
            param="tools",
        )
    sampling.check_named(req.body, model)  # before anything is reserved
    if req.protocol == "openai" and s.protocol_of(req.model) == "openai":
        model_params.check_named(req.body, model, lambda field: blocked_param(req, field))
    if s.protocol_of(req.model) != req.protocol and req.to_canonical() is None:
        raise _unreadable(req, s.protocol_of(req.model))
    protocol = s.protocol_of(req.model)
    block = cross_protocol_block(req, protocol)
    if block is not None:
        raise InvalidRequest(
            f"The model `{req.model}` cannot serve this request: its {protocol} API cannot "
            f"carry {block.reason}.",
            param=blocked_param(req, block.field),
        )
    needs = needs_of(req)
    media = [c for c in _MEDIA if c in needs and c not in model.capabilities]
    if media:  # as `auto` rules it out: else the upstream refuses it after the reservation
        # (checked after the protocol check above, whose reason is the more precise)
        raise NoCapableModel(
            f"The model `{req.model}` cannot serve this request: it lacks "
            f"{' and '.join(media)} ({' and '.join(_MEDIA[c] for c in media)}).",
            param=_need_param(req, media[0]),
        )
    need = context_need(
        req.prompt_tokens_on(model.image_rule), req.kept_thinking_tokens, req.max_tokens,
        model.capabilities,
    )  # fmt: skip
    if need > model.context_window:
        raise _too_long(req, model.context_window, need)
    return model


def _too_long(req: ChatRequest, window: int, need: int) -> ContextTooLong:
    """The named model's context refusal, naming what to lower: the client's own output limit
    when the input alone fits (a 5-token prompt with `max_output_tokens: 1e9` was told its
    input was too long), else its conversation. An output limit Arbiter added is not the
    client's to lower: then the conversation is named, as before."""
    limit = req.max_tokens or 0
    param = context_param(req, need - limit, window)
    if param != req.messages_param:
        return ContextTooLong(
            f"This model's maximum context length is {window} tokens; the request needs about "
            f"{need}: {need - limit} for the input and {limit} for the output ('{param}'). "
            f"Lower '{param}'.",
            param=param,
        )
    return ContextTooLong(
        f"This model's maximum context length is {window} tokens; the request needs about {need}.",
        param=req.messages_param,
    )


def context_param(req: ChatRequest, input_need: int, window: int) -> str:
    """What a context refusal names: the client's own output limit when the input alone
    (`input_need` tokens) fits `window`, else the conversation."""
    if req.max_tokens and not req.limit_injected and input_need < window:
        return limit_param(req)
    return req.messages_param


def too_long_for_every_model(
    err: ContextTooLong, req: ChatRequest, pool: Iterable[PoolModel]
) -> ContextTooLong:
    """`auto`'s refusal (routing's, listing each model's window) naming what to lower, as a
    named model's does: the output limit when the input alone fits the widest window."""
    widest = max((m.context_window for m in pool), default=0)
    param = context_param(req, req.prompt_tokens + 1, widest)
    if param == req.messages_param:
        return ContextTooLong(err.message, param=param)
    return ContextTooLong(f"{err.message}. Lower '{param}'.", param=param)


def limit_param(req: ChatRequest) -> str:
    """The output limit's field as the caller named it: the Responses API's
    `max_output_tokens`, Anthropic's `max_tokens`, Chat Completions' either name."""
    if req.messages_param == "input":
        return "max_output_tokens"
    if req.protocol == "openai" and req.body.get("max_completion_tokens") is not None:
        return "max_completion_tokens"
    return "max_tokens"


_API: dict[Protocol, str] = {"anthropic": "Anthropic's Messages API", "openai": "OpenAI's API"}


def _unreadable(req: ChatRequest, protocol: Protocol) -> InvalidRequest:
    """A field the other protocol's translation cannot read (the client's own upstream would
    have been sent it as it came), named in `param` and worded as OpenAI words a bad value."""
    return InvalidRequest(
        f"{unreadable_field(req)}. The model `{req.model}` speaks {_API[protocol]}, and Arbiter "
        "must read this field to translate the request for it.",
        param=req.canonical_param,
    )


def named_in_refusal(
    err: NoCapableModel, req: ChatRequest, pool: Iterable[PoolModel]
) -> NoCapableModel:
    """`auto` found no model: the refusal names a field in `param`, as a named model's does, so
    a client (the openai SDK's BadRequestError.param) can tell which field to fix: one the
    translation could not read (`_unreadable`) when that is among the reasons, else the field
    that asks for a capability no model in the pool has (an image: the messages)."""
    if err.param is not None:
        return err
    if (
        req.canonical_param is not None
        and req.canonical_error is not None
        and unreadable_field(req) in err.message
    ):
        return NoCapableModel(err.message, param=req.canonical_param)
    models = list(pool)
    for need in sorted(needs_of(req)):  # the first, as OpenAI names one field
        if not any(need in m.capabilities for m in models):
            return NoCapableModel(err.message, param=_need_param(req, need))
    untaken = model_params.untaken(req.body, models) if req.protocol == "openai" else None
    if untaken is not None:  # logprobs or reasoning_effort, which no model takes
        return NoCapableModel(err.message, param=blocked_param(req, untaken))
    return _none_takes_all(err, req, models)


def _none_takes_all(
    err: NoCapableModel, req: ChatRequest, models: list[PoolModel]
) -> NoCapableModel:
    """Each field some model takes, but no one model takes them all (logprobs with
    reasoning_effort, say): the refusal names them, `param` the first (OpenAI names one)."""
    asked = [(c, _need_param(req, c)) for c in sorted(needs_of(req))]
    if req.protocol == "openai":
        asked += [(c, blocked_param(req, f)) for c, f in model_params.asked(req.body)]
    if len(asked) < 2 or any(all(c in m.capabilities for c, _ in asked) for m in models):
        return err
    fields = list(dict.fromkeys(f for _, f in asked))
    caps = " and ".join(f"`{c}`" for c, _ in asked)
    named = ", ".join(f"`{f}`" for f in fields[:-1]) + (" and " if len(fields) > 1 else "")
    return NoCapableModel(
        f"{err.message}. No model takes {named}`{fields[-1]}` together: some model has each "
        f"of {caps}, none has them all; leave one out or add a model that has them all.",
        param=fields[0],
    )


def _need_param(req: ChatRequest, capability: str) -> str:
    """The field of the request that asks for `capability` (needs_of's names)."""
    if capability == "tools":
        return "tools"
    if capability == "json":
        return format_param(req)
    if capability in ("thinking", ADAPTIVE):
        return "thinking"
    if capability == INTERLEAVED:
        return "anthropic-beta"
    modalities = req.body.get("modalities")
    if capability == "audio" and isinstance(modalities, list) and "audio" in modalities:
        return "modalities"  # spoken output asked for
    return req.messages_param  # an image or audio the messages carry


def blocked_param(req: ChatRequest, field: str) -> str:
    """The field a cross-protocol Blocker names (compat.Blocker.field), in the caller's words:
    its messages and structured-output fields as its surface names them, Anthropic's
    `stop_sequences`; an extra's key is already the caller's own."""
    if field == "messages":
        return req.messages_param
    if field == "response_format":
        return format_param(req)
    if field == "stop" and req.protocol == "anthropic":
        return "stop_sequences"
    return req.view_params.get(field, field) if req.view_params else field


def format_param(req: ChatRequest) -> str:
    """The structured-output field as the caller named it (an error names the caller's field,
    not the view it was translated to: the Responses API's `text.format`)."""
    if req.format_param is not None:
        return req.format_param
    if req.protocol == "openai":
        return "response_format"
    body = req.body
    return "output_format" if body.get("output_format") is not None else "output_config.format"
