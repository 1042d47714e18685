"""The simulator's HTTP surface: OpenAI-compatible /v1 endpoints plus /_sim control endpoints.

Owns wire shapes (JSON and SSE), latency and the failure modes on the wire. What a model says
comes from SimState.reply; how the process runs comes from arbiter.sim.runner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from arbiter import linear
from arbiter.errors import ConfigError
from arbiter.sim.config import ModelProfile, SimConfig
from arbiter.sim.failures import (
    StreamPlan,
    draw_failure,
    draw_stream_plan,
    error_body,
    failure_status,
    malformed_body,
    messages_digest,
    request_rng,
)
from arbiter.sim.outcomes import OutcomeTable
from arbiter.sim.state import ModelStats, Reply, SimState, count_tokens, prompt_tokens

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
            Route("/health", _health, methods=["GET"]),
            Route("/_sim/stats", _stats, methods=["GET"]),
            Route("/_sim/reset", _reset, methods=["POST"]),
            Route("/_sim/control", _control, methods=["POST"]),
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


def _state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def _unauthorized(request: Request) -> Response | None:
    if not _state(request).config.require_auth:
        return None
    if _BEARER.match(request.headers.get("authorization", "")):
        return None
    return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")


async def _health(request: Request) -> Response:
    return _json({"ok": True})


async def _list_models(request: Request) -> Response:
    denied = _unauthorized(request)
    if denied is not None:
        return denied
    data = [{"id": name, "object": "model", "created": _CREATED, "owned_by": "arbiter-sim"}
            for name in _state(request).profiles]  # fmt: skip
    return _json({"object": "list", "data": data})


async def _stats(request: Request) -> Response:
    return _json(_state(request).stats_json())


async def _reset(request: Request) -> Response:
    _state(request).reset()
    return _json({"ok": True})


async def _control(request: Request) -> Response:
    try:
        patch = orjson.loads(await request.body())
        if not isinstance(patch, dict):
            raise ConfigError("expected a JSON object")
        changed = _state(request).control(patch)
    except (orjson.JSONDecodeError, ConfigError) as err:
        return _error(400, str(err), "invalid_request_error", "invalid_control")
    logger.info("sim control applied", extra={"patch": patch})
    return _json({"ok": True, "models": [_profile_json(p) for p in changed]})


def _profile_json(p: ModelProfile) -> dict[str, Any]:
    f = p.failures
    return {"model": p.name, "down": p.down, "latency_ms": p.latency_ms, "quality": dict(p.quality),
            "reported_price_factor": p.reported_price_factor, "report_cost": p.report_cost,
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
    state = _state(request)
    model = body.get("model")
    profile = state.profiles.get(model) if isinstance(model, str) else None
    if profile is None:
        return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                      "invalid_request_error", "model_not_found", "model")  # fmt: skip
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error(
            400, "'messages' must be a non-empty array.", "invalid_request_error", None, "messages"
        )
    return await _complete(state, profile, body, messages)


async def _complete(
    state: SimState, profile: ModelProfile, body: dict[str, Any], messages: list[Any]
) -> Response:
    stats = state.stats[profile.name]
    stats.requests += 1
    stream = body.get("stream") is True
    stats.streams += int(stream)
    rng = request_rng(
        state.config.seed, profile.name, messages_digest(messages), state.next_counter(profile.name)
    )
    ttfb = max(0.0, profile.latency_ms + rng.uniform(-1, 1) * profile.latency_jitter_ms) / 1000
    failure = draw_failure(profile, rng)
    if failure in ("down", "error_5xx", "error_429", "timeout"):
        stats.failures[failure] += 1
        await asyncio.sleep(
            state.config.hang_s if failure == "timeout" else 0.0 if failure == "down" else ttfb
        )
        status, payload, headers = failure_status(failure, rng)
        return Response(payload, status, headers, "application/json")

    reply = state.reply(profile, body, rng)
    text, finish, usage = _limit(reply, body, messages)
    usage_json, headers = _bill(stats, profile, reply, usage)
    pieces = _split(text, profile.chars_per_chunk)
    plan = draw_stream_plan(profile.failures, rng, len(pieces))
    for fault in plan.faults if stream else plan.faults[: int(plan.stall) + int(plan.trickle)]:
        stats.failures[fault] += 1
    if failure == "malformed":
        stats.failures["malformed"] += 1
        plan = replace(plan, malformed_at=0)
    elif not (stream and (plan.cut_after is not None or plan.malformed_at is not None)):
        stats.ok += 1
        _count_grade(stats, reply)
    first = ttfb + (profile.failures.stall_ms / 1000 if plan.stall else 0.0)
    gap = (profile.failures.trickle_ms if plan.trickle else profile.ms_per_chunk) / 1000
    completion_id = f"chatcmpl-sim{rng.getrandbits(64):016x}"
    if stream:
        tail = usage_json if _include_usage(body) else None
        events = _sse_events(completion_id, profile.name, pieces, finish, tail, plan)
        cut_at = None if plan.cut_after is None else 1 + plan.cut_after
        return _EventStream(events, first, gap, cut_at, headers)
    await asyncio.sleep(first + gap * len(pieces))
    if failure == "malformed":
        return Response(malformed_body(rng, completion_id), 200, media_type="application/json")
    message = {"role": "assistant", "content": text, "refusal": None}
    completion = {"id": completion_id, "object": "chat.completion", "created": int(time.time()),
                  "model": profile.name, "usage": usage_json,
                  "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                               "message": message}]}  # fmt: skip
    return _json(completion, headers=headers)


def _bill(
    stats: ModelStats, profile: ModelProfile, reply: Reply, usage: tuple[int, int]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Count tokens and true cost; the usage object and headers, with cost telemetry if any."""
    stats.prompt_tokens += usage[0]
    stats.completion_tokens += usage[1]
    true_cost = profile.cost_usd(*usage)
    stats.true_cost_usd += true_cost
    reported = round(true_cost * profile.reported_price_factor, 12)
    headers = dict(reply.headers)
    if profile.report_cost in ("header", "both"):
        headers["x-upstream-cost-usd"] = format(reported, ".12g")
    usage_json: dict[str, Any] = {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                  "total_tokens": usage[0] + usage[1]}  # fmt: skip
    if profile.report_cost in ("body", "both"):
        usage_json["cost"] = reported
    return usage_json, headers


def _count_grade(stats: ModelStats, reply: Reply) -> None:
    if reply.good is True:
        stats.good += 1
    elif reply.good is False:
        stats.bad += 1
    elif reply.task == "judge":
        stats.judged += 1
    elif reply.usage is not None:
        stats.recorded += 1


def _limit(
    reply: Reply, body: Mapping[str, Any], messages: list[Any]
) -> tuple[str, str, tuple[int, int]]:
    """Apply max_tokens: (content, finish_reason, (prompt_tokens, completion_tokens))."""
    text, finish = reply.content, reply.finish_reason
    usage = reply.usage or (prompt_tokens(messages), count_tokens(text))
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < usage[1]:
        text, finish = text[: limit * 4], "length"
        usage = (usage[0], count_tokens(text))
    return text, finish, usage


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse_events(
    completion_id: str,
    model: str,
    pieces: list[str],
    finish: str,
    usage: dict[str, Any] | None,
    plan: StreamPlan,
) -> list[bytes]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], reason: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": reason}
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [choice]}  # fmt: skip
        return b"data: " + orjson.dumps(body) + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""}, None)]
    for i, piece in enumerate(pieces):
        if i == plan.malformed_at:
            events.append(
                b'data: {"id": "' + completion_id.encode() + b'", "choices": [{"delta": {"conte\n\n'
            )
        else:
            events.append(chunk({"content": piece}, None))
    events.append(chunk({}, finish))
    if usage is not None:
        tail = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [], "usage": usage}  # fmt: skip
        events.append(b"data: " + orjson.dumps(tail) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


class _EventStream(Response):
    """SSE that it writes itself, so it can pace chunks and die mid-stream (an abrupt close)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        events: list[bytes],
        first_delay: float,
        gap: float,
        cut_at: int | None,
        headers: Mapping[str, str],
    ) -> None:
        # Response.__init__ is not called: this body has no length, it is written as it goes.
        self.status_code = 200
        self.background = None
        self._events, self._first, self._gap, self._cut_at = events, first_delay, gap, cut_at
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = [(b"content-type", b"text/event-stream; charset=utf-8"),
                            (b"cache-control", b"no-cache"), *extra]  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(self._first)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            last = len(self._events) - 1
            for i, event in enumerate(self._events):
                if i == self._cut_at:
                    return  # the server drops the connection: no finish, no [DONE]
                if 1 < i < last and self._gap > 0:
                    await asyncio.sleep(self._gap)
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away
            return
