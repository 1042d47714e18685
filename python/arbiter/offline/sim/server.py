"""The simulator's HTTP surface: OpenAI-compatible /v1 endpoints plus /_sim control endpoints.

Owns OpenAI's wire shapes (JSON and SSE) and routes Anthropic-protocol models' /v1/messages to
anthropic_wire.py. What happens to a request (latency, failures, the reply, billing) is
simulate.py's, the same for both; how the process runs comes from arbiter.offline.sim.runner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arbiter import linear
from arbiter.canonical import CanonicalRequest
from arbiter.errors import ConfigError, InvalidRequest
from arbiter.offline.sim import anthropic_wire, legacy_wire
from arbiter.offline.sim.config import ModelProfile, SimConfig
from arbiter.offline.sim.failures import error_body, failure_status, malformed_body
from arbiter.offline.sim.headers import provider_headers
from arbiter.offline.sim.outcomes import OutcomeTable
from arbiter.offline.sim.schedule import parse_steps
from arbiter.offline.sim.simulate import Choice, Completion, Failed, billing_when_left, simulate
from arbiter.offline.sim.sse import EventStream
from arbiter.offline.sim.state import SimState, state_of
from arbiter.protocols.openai import decode_request

logger = logging.getLogger(__name__)
_BEARER = linear.compile(r"(?i)^Bearer\s+\S+")  # linear-time: headers are untrusted
_CREATED = 1_700_000_000


def build_app(config: SimConfig) -> Starlette:
    """The simulator app; loads the outcome table when the config names one."""
    outcomes = None
    if config.outcome_table is not None and config.outcome_models is not None:
        outcomes = OutcomeTable.load(config.outcome_table, config.outcome_models)
    app = Starlette(
        routes=[
            Route("/v1/models", _list_models, methods=["GET"]),
            Route("/v1/chat/completions", _chat, methods=["POST"]),
            Route("/v1/embeddings", legacy_wire.embeddings, methods=["POST"]),
            Route("/v1/completions", legacy_wire.completions, methods=["POST"]),
            Route("/v1/messages", anthropic_wire.messages, methods=["POST"]),
            Route(
                "/v1/messages/count_tokens", anthropic_wire.count_message_tokens, methods=["POST"]
            ),
            Route("/health", _health, methods=["GET"]),
            Route("/_sim/stats", _stats, methods=["GET"]),
            Route("/_sim/reset", _reset, methods=["POST"]),
            Route("/_sim/control", _control, methods=["POST"]),
            Route("/_sim/schedule", _schedule, methods=["POST"]),
        ]
    )
    app.state.sim = SimState(config, outcomes)
    return app


def _json(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), status, dict(headers or {}), "application/json")


def _error(
    status: int, message: str, type_: str, code: str | None, param: str | None = None
) -> Response:
    return Response(error_body(message, type_, code, param), status, media_type="application/json")


def _unauthorized(request: Request) -> Response | None:
    if not state_of(request).config.require_auth:
        return None
    if _BEARER.match(request.headers.get("authorization", "")):
        return None
    return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")


async def _health(request: Request) -> Response:
    return _json({"ok": True})


async def _list_models(request: Request) -> Response:
    if "anthropic-version" in request.headers:  # the anthropic SDK asks the same path
        return anthropic_wire.list_models(request)
    denied = _unauthorized(request)
    if denied is not None:
        return denied
    data = [_listing_entry(p) for p in state_of(request).profiles.values()
            if p.protocol == "openai" and p.listed]  # fmt: skip
    return _json({"object": "list", "data": data})


def _listing_entry(p: ModelProfile) -> dict[str, Any]:
    """OpenAI's model object plus OpenRouter's context_length and per-token price strings."""
    entry: dict[str, Any] = {
        "id": p.name,
        "object": "model",
        "created": _CREATED,
        "owned_by": "arbiter-sim",
        "context_length": p.context_window,
    }
    if p.list_price:
        entry["pricing"] = {
            "prompt": f"{p.price_in_per_mtok / 1e6:.12g}",
            "completion": f"{p.price_out_per_mtok / 1e6:.12g}",
        }
    return entry


async def _stats(request: Request) -> Response:
    return _json(state_of(request).stats_json())


async def _reset(request: Request) -> Response:
    state_of(request).reset()
    return _json({"ok": True})


async def _control(request: Request) -> Response:
    try:
        patch = orjson.loads(await request.body())
        if not isinstance(patch, dict):
            raise ConfigError("expected a JSON object")
        changed = state_of(request).control(patch)
    except (orjson.JSONDecodeError, ConfigError) as err:
        return _error(400, str(err), "invalid_request_error", "invalid_control")
    logger.info("sim control applied", extra={"patch": patch})
    return _json({"ok": True, "models": [_profile_json(p) for p in changed]})


async def _schedule(request: Request) -> Response:
    try:
        schedule = parse_steps(orjson.loads(await request.body()))
        state_of(request).set_schedule(schedule)
    except (orjson.JSONDecodeError, ConfigError) as err:
        return _error(400, str(err), "invalid_request_error", "invalid_schedule")
    return _json({"ok": True, "steps": len(schedule.steps)})


def _profile_json(p: ModelProfile) -> dict[str, Any]:
    f = p.failures
    return {"model": p.name, "down": p.down, "latency_ms": p.latency_ms, "quality": dict(p.quality),
            "reported_price_factor": p.reported_price_factor, "report_cost": p.report_cost,
            "protocol": p.protocol, "listed": p.listed, "list_price": p.list_price,
            "price_in_per_mtok": p.price_in_per_mtok, "price_out_per_mtok": p.price_out_per_mtok,
            "failures": {k: getattr(f, k) for k in f.__slots__}}  # fmt: skip


async def _chat(request: Request) -> Response:
    denied = _unauthorized(request)
    if denied is not None:
        return denied
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _error(
            400, "We could not parse the JSON body of your request.", "invalid_request_error", None
        )
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.", "invalid_request_error", None)
    state = state_of(request)
    model = body.get("model")
    profile = state.profiles.get(model) if isinstance(model, str) else None
    if profile is None or profile.protocol != "openai":  # an Anthropic one is on /v1/messages
        return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                      "invalid_request_error", "model_not_found", "model")  # fmt: skip
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(
            400, "'messages' must be a non-empty array.", "invalid_request_error", None, "messages"
        )
    problem = _bad_count(body) or _long_call_id(messages)
    if problem is not None:
        return problem
    if profile.token_param == "max_completion_tokens" and "max_tokens" in body:
        return _error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                      "Use 'max_completion_tokens' instead.", "invalid_request_error",
                      "unsupported_parameter", "max_tokens")  # fmt: skip
    return await _complete(state, profile, body, messages, request)


async def _complete(
    state: SimState,
    profile: ModelProfile,
    body: dict[str, Any],
    messages: list[Any],
    request: Request,
) -> Response:
    stream = body.get("stream") is True
    n = body.get("n") or 1
    outcome = await simulate(state, profile, body, stream, None, _offered_tools(body), n)
    if isinstance(outcome, Failed):
        status, payload, headers = failure_status(outcome.kind, outcome.rng)
        return Response(payload, status, headers, "application/json")
    outcome.headers.update(provider_headers(request, outcome.id_bits, "openai"))
    usage_json: dict[str, Any] = {"prompt_tokens": outcome.usage[0],
                                  "completion_tokens": outcome.usage[1],
                                  "total_tokens": sum(outcome.usage)}  # fmt: skip
    if outcome.body_cost is not None:
        usage_json["cost"] = outcome.body_cost
    completion_id = f"chatcmpl-sim{outcome.id_bits:016x}"
    if stream:
        tail = usage_json if _include_usage(body) else None
        events = _sse_events(completion_id, profile.name, outcome, tail)
        opening = 1 + (outcome.tool_call is not None)  # the role chunk (and the call's name)
        cut_at = None if outcome.plan.cut_after is None else opening + outcome.plan.cut_after
        # a client that leaves is billed for what was made by then; n > 1 choices stream here
        # one after another while a provider makes them at once, so those are billed whole
        left = None if outcome.more else billing_when_left(state, profile, outcome, opening)
        return EventStream(
            events, outcome.first_s, outcome.gap_s, cut_at, outcome.headers, on_left=left
        )
    await asyncio.sleep(outcome.first_s + outcome.gap_s * len(outcome.pieces))
    if outcome.malformed:
        return Response(malformed_body(outcome.rng, completion_id), 200,
                        media_type="application/json")  # fmt: skip
    first = Choice(outcome.text, outcome.finish, outcome.stop_sequence, outcome.tool_call, [])
    choices = [{"index": i, "finish_reason": c.finish, "logprobs": None,
                "message": _message(c, outcome.id_bits, i)}
               for i, c in enumerate((first, *outcome.more))]  # fmt: skip
    completion = {"id": completion_id, "object": "chat.completion", "created": int(time.time()),
                  "model": profile.name, "usage": usage_json, "choices": choices}  # fmt: skip
    return _json(completion, headers=outcome.headers)


def _bad_count(body: Mapping[str, Any]) -> Response | None:
    """OpenAI's 400 for an `n` outside 1..128, or an output limit below 1."""
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128):
        return _error(400, f"Invalid 'n': expected an integer in [1, 128], got {n!r}.",
                      "invalid_request_error", "invalid_value", "n")  # fmt: skip
    for name in ("max_tokens", "max_completion_tokens"):
        limit = body.get(name)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit < 1:
            return _error(400, f"Invalid '{name}': integer below minimum value. Expected a value "
                          f">= 1, but got {limit} instead.", "invalid_request_error",
                          "integer_below_min_value", name)  # fmt: skip
    return None


_MAX_CALL_ID = 40  # OpenAI's, for a tool-call id (the sim's own copy: it plays OpenAI)


def _long_call_id(messages: list[Any]) -> Response | None:
    """OpenAI's 400 for a tool-call id of the history past its 40 characters."""
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        calls = msg.get("tool_calls")
        found = [(f"messages[{i}].tool_call_id", msg.get("tool_call_id"))] + [
            (f"messages[{i}].tool_calls[{j}].id", c.get("id"))
            for j, c in enumerate(calls if isinstance(calls, list) else ())
            if isinstance(c, dict)
        ]
        for param, value in found:
            if isinstance(value, str) and len(value) > _MAX_CALL_ID:
                return _error(400, f"Invalid '{param}': string too long. Expected a string with "
                              f"maximum length {_MAX_CALL_ID}, but got a string with length "
                              f"{len(value)} instead.", "invalid_request_error",
                              "string_above_max_length", param)  # fmt: skip
    return None


def _offered_tools(body: dict[str, Any]) -> CanonicalRequest | None:
    """The request decoded when it offers tools (what tool_calls.pick reads); None without
    tools, or when the decoder refuses the body (the sim then answers in text, as before)."""
    if not body.get("tools"):
        return None
    try:
        return decode_request(body)
    except InvalidRequest:
        return None


def _call_id(id_bits: int, i: int) -> str:
    return f"call_sim{id_bits ^ i:016x}"


def _message(c: Choice, id_bits: int, i: int) -> dict[str, Any]:
    if c.tool_call is None:
        return {"role": "assistant", "content": c.text, "refusal": None}
    call = {"id": _call_id(id_bits, i), "type": "function",
            "function": {"name": c.tool_call.name, "arguments": c.tool_call.arguments}}  # fmt: skip
    return {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _sse_events(
    completion_id: str, model: str, outcome: Completion, usage: dict[str, Any] | None
) -> list[bytes]:
    """The role chunk, choice 0's content (or tool-call argument) chunks with the fault plan's
    malformed chunk, each further choice's chunks (`index` i), the finish chunks, the usage
    chunk when asked, [DONE]."""
    created = int(time.time())
    plan = outcome.plan

    def chunk(index: int, delta: dict[str, Any], reason: str | None) -> bytes:
        choice = {"index": index, "delta": delta, "finish_reason": reason}
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [choice]}  # fmt: skip
        return b"data: " + orjson.dumps(body) + b"\n\n"

    first = Choice(outcome.text, outcome.finish, outcome.stop_sequence, outcome.tool_call,
                   outcome.pieces)  # fmt: skip
    events = []
    for i, c in enumerate((first, *outcome.more)):
        events.append(chunk(i, {"role": "assistant", "content": None if c.tool_call else ""},
                            None))  # fmt: skip
        if c.tool_call is not None:
            opening = {"index": 0, "id": _call_id(outcome.id_bits, i), "type": "function",
                       "function": {"name": c.tool_call.name, "arguments": ""}}  # fmt: skip
            events.append(chunk(i, {"tool_calls": [opening]}, None))
        for j, piece in enumerate(c.pieces):
            if i == 0 and j == plan.malformed_at:
                events.append(b'data: {"id": "' + completion_id.encode()
                              + b'", "choices": [{"delta": {"conte\n\n')  # fmt: skip
            elif c.tool_call is not None:
                part = {"index": 0, "function": {"arguments": piece}}
                events.append(chunk(i, {"tool_calls": [part]}, None))
            else:
                events.append(chunk(i, {"content": piece}, None))
        events.append(chunk(i, {}, c.finish))
    if usage is not None:
        tail = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [], "usage": usage}  # fmt: skip
        events.append(b"data: " + orjson.dumps(tail) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events
