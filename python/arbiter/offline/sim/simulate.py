"""One simulated answer, whatever the wire: the failure draw, the reply, stop sequences and
max_tokens, billing and the stats. server.py renders it as OpenAI, anthropic_wire.py as Anthropic.

Both read the request as an OpenAI-shaped body (`messages`, `max_tokens`, `stop`,
`response_format`), so the same prompt and seed give the same draws, reply, usage and cost on
either protocol. The rng draws happen in a fixed order (see `simulate`); changing it changes
every seeded run. A tool call (tool_calls.py) and the choices after the first (`n`) draw from
streams of their own, so a request without them draws as it always did.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from random import Random
from typing import Any

from arbiter.canonical import CanonicalRequest
from arbiter.offline.sim import tool_calls
from arbiter.offline.sim.config import ModelProfile
from arbiter.offline.sim.content import FinishReason
from arbiter.offline.sim.failures import (
    FailureKind,
    StreamPlan,
    draw_failure,
    draw_stream_plan,
    messages_digest,
    request_rng,
)
from arbiter.offline.sim.latency_profile import CallLatency, draw
from arbiter.offline.sim.state import ModelStats, Reply, SimState, count_tokens, prompt_tokens


@dataclass(frozen=True, slots=True)
class CachePrefix:
    """The part of a prompt marked for prompt caching (Anthropic's `cache_control`)."""

    digest: bytes
    tokens: int


@dataclass(frozen=True, slots=True)
class Failed:
    """A request-level failure, answered with an HTTP error (after its delay has passed)."""

    kind: FailureKind
    rng: Random  # drawn from by the renderer (which 5xx)


@dataclass(frozen=True, slots=True)
class Choice:
    """One more of `n` choices (the first is the Completion's own fields)."""

    text: str
    finish: FinishReason
    stop_sequence: str | None
    tool_call: tool_calls.ToolCall | None
    pieces: list[str]  # its stream chunks: the content, or the call's arguments


@dataclass(frozen=True, slots=True)
class Completion:
    text: str  # "" for a tool call
    finish: FinishReason
    stop_sequence: str | None  # the stop sequence that ended the text, if one did
    usage: tuple[int, int]  # (prompt_tokens, completion_tokens); prompt counts all input
    cache: tuple[int, int]  # (read, written): the parts of prompt_tokens the prompt cache served
    body_cost: float | None  # reported cost for the body, when the profile reports it there
    headers: dict[str, str]
    pieces: list[str]  # the stream's content chunks
    plan: StreamPlan
    malformed: bool  # a request-level `malformed` failure: a broken 200
    first_s: float  # delay before the first byte
    gap_s: float  # delay between chunks
    id_bits: int
    rng: Random = field(compare=False)  # for the malformed body's draw
    tool_call: tool_calls.ToolCall | None = None  # the answer is this call (finish "tool_calls")
    more: tuple[Choice, ...] = ()  # choices 2..n, each billed (usage counts them all)


async def simulate(
    state: SimState,
    profile: ModelProfile,
    body: Mapping[str, Any],
    stream: bool,
    cache_prefix: CachePrefix | None = None,
    tools: CanonicalRequest | None = None,
    n: int = 1,
) -> Failed | Completion:
    """Draw and count one request to `profile`; a failure's delay is slept here. A request that
    fails before it is processed writes nothing to the prompt cache. `tools`: the request
    decoded, when it offers tools (tool_calls.pick decides on a call); `n`: the choices asked
    for. Each tool decision and each choice after the first draws from its own random stream
    (so a request without them draws exactly as before)."""
    messages = body.get("messages") or []
    stats = state.stats[profile.name]
    stats.requests += 1
    stats.streams += int(stream)
    counter = state.next_counter(profile.name)
    if state.config.same_draws_per_prompt:
        counter = 0
    digest = messages_digest(messages)
    rng = request_rng(state.config.seed, profile.name, digest, counter)
    ttfb = max(0.0, profile.latency_ms + rng.uniform(-1, 1) * profile.latency_jitter_ms) / 1000
    call = _call_latency(state, profile, digest, counter, state.in_flight.load(profile.name))
    if call is not None:
        ttfb = call.ttft_s
    failure = draw_failure(profile, rng)
    if failure in ("down", "error_5xx", "error_429", "timeout"):
        assert failure is not None
        stats.failures[failure] += 1
        await asyncio.sleep(
            state.config.hang_s if failure == "timeout" else 0.0 if failure == "down" else ttfb
        )
        return Failed(failure, rng)

    seeded = (state.config.seed, digest, counter)
    tool_call = _tool_call(profile, tools, seeded, 0)
    if tool_call is None:
        reply = state.reply(profile, body, rng)
        text, finish, sequence, usage = _limit(reply, body, messages)
    else:
        reply = Reply("", "tool_calls", "tools", None)
        text, finish, sequence = "", "tool_calls", None
        usage = (prompt_tokens(messages), count_tokens(tool_call.name + tool_call.arguments))
    more = tuple(_choice(state, profile, body, tools, seeded, i) for i in range(1, n))
    stats.tool_calls += (tool_call is not None) + sum(c.tool_call is not None for c, _ in more)
    usage = (usage[0], usage[1] + sum(c_tokens for _, c_tokens in more))
    cache = (0, 0)
    if cache_prefix is not None and cache_prefix.tokens > 0:
        tokens = min(cache_prefix.tokens, usage[0])
        cache = (
            (tokens, 0) if state.cache_lookup(profile.name, cache_prefix.digest) else (0, tokens)
        )
    body_cost, headers = _bill(stats, profile, reply, usage, cache)
    pieces = _split(tool_call.arguments if tool_call else text, profile.chars_per_chunk)
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
    if call is not None:  # the profile paces the tokens: the answer takes TTFT + tokens / speed
        if not plan.trickle:
            gap = call.per_token_s * usage[1] / len(pieces)
        state.in_flight.add(profile.name, first + gap * len(pieces))
    return Completion(text, finish, sequence, usage, cache, body_cost, headers, pieces, plan,
                      failure == "malformed", first, gap, rng.getrandbits(64), rng, tool_call,
                      tuple(c for c, _ in more))  # fmt: skip


def _tool_call(
    profile: ModelProfile, tools: CanonicalRequest | None, seeded: tuple[int, bytes, int], i: int
) -> tool_calls.ToolCall | None:
    """Choice `i`'s tool call, drawn from its own stream (None: it answers in text)."""
    if tools is None or not tools.tools:
        return None
    seed, digest, counter = seeded
    return tool_calls.pick(tools, request_rng(seed, f"{profile.name}#tools{i}", digest, counter))


def _choice(
    state: SimState,
    profile: ModelProfile,
    body: Mapping[str, Any],
    tools: CanonicalRequest | None,
    seeded: tuple[int, bytes, int],
    i: int,
) -> tuple[Choice, int]:
    """Choice `i` (> 0) of `n` and its completion tokens: another draw of the answer from the
    choice's own stream (the prompt is billed once, as the real APIs bill it)."""
    call = _tool_call(profile, tools, seeded, i)
    if call is not None:
        pieces = _split(call.arguments, profile.chars_per_chunk)
        return Choice("", "tool_calls", None, call, pieces), count_tokens(
            call.name + call.arguments
        )
    seed, digest, counter = seeded
    rng = request_rng(seed, f"{profile.name}#choice{i}", digest, counter)
    reply = state.reply(profile, body, rng)
    text, finish, sequence, usage = _limit(reply, body, body.get("messages") or [])
    return Choice(text, finish, sequence, None, _split(text, profile.chars_per_chunk)), usage[1]


def _call_latency(
    state: SimState, profile: ModelProfile, digest: bytes, counter: int, load: int
) -> CallLatency | None:
    """The call's latency-profile draw, from its own random stream (None: no profile)."""
    if profile.latency is None:
        return None
    rng = request_rng(state.config.seed, profile.name + "#latency", digest, counter)
    return draw(profile.latency, rng, load, state.config.latency_scale)


def offline_call(
    state: SimState, profile: ModelProfile, body: Mapping[str, Any]
) -> tuple[int, float, bool | None]:
    """What a call would return under `same_draws_per_prompt`, without waiting or counting:
    (completion tokens, seconds at no load, whether the answer is good). For a bench's oracle;
    the draws are simulate's, in its order. `state` should be a scratch SimState (its answer
    registry records the reply)."""
    messages = body.get("messages") or []
    digest = messages_digest(messages)
    rng = request_rng(state.config.seed, profile.name, digest, 0)
    ttfb = max(0.0, profile.latency_ms + rng.uniform(-1, 1) * profile.latency_jitter_ms) / 1000
    call = _call_latency(state, profile, digest, 0, 0)
    draw_failure(profile, rng)
    reply = state.reply(profile, body, rng)
    _, _, _, usage = _limit(reply, body, messages)
    if call is not None:
        return usage[1], call.total_s(usage[1]), reply.good
    pieces = -(-max(len(reply.content), 1) // profile.chars_per_chunk)
    return usage[1], ttfb + pieces * profile.ms_per_chunk / 1000, reply.good


def _bill(
    stats: ModelStats,
    profile: ModelProfile,
    reply: Reply,
    usage: tuple[int, int],
    cache: tuple[int, int],
) -> tuple[float | None, dict[str, str]]:
    """Count tokens and true cost; the cost for the body (if reported there) and the headers."""
    stats.prompt_tokens += usage[0]
    stats.completion_tokens += usage[1]
    stats.cache_read_tokens += cache[0]
    stats.cache_write_tokens += cache[1]
    true_cost = profile.cost_usd(*usage, *cache)
    stats.true_cost_usd += true_cost
    reported = round(true_cost * profile.reported_price_factor, 12)
    headers = dict(reply.headers)
    if profile.report_cost in ("header", "both"):
        headers["x-upstream-cost-usd"] = format(reported, ".12g")
    return (reported if profile.report_cost in ("body", "both") else None), headers


def billing_when_left(
    state: SimState, profile: ModelProfile, outcome: Completion, first_piece: int
) -> Callable[[int], None]:
    """For a stream's EventStream (`first_piece`: the index of the event carrying the first
    piece): a client that closes the connection while event `at` is being made is billed, as a
    provider bills, for what was generated by then: the pieces before it and the one being made
    (their share of the completion tokens), not the whole answer `simulate` counted."""

    def left(at: int) -> None:
        n = len(outcome.pieces)
        made = min(max(at - first_piece + 1, 0), n)
        chars = sum(len(p) for p in outcome.pieces)
        made_chars = sum(len(p) for p in outcome.pieces[:made])
        prompt, completion = outcome.usage
        billed = math.ceil(completion * made_chars / chars) if chars else 0
        stats = state.stats[profile.name]
        stats.completion_tokens -= completion - billed
        stats.true_cost_usd -= profile.cost_usd(prompt, completion, *outcome.cache)
        stats.true_cost_usd += profile.cost_usd(prompt, billed, *outcome.cache)
        stats.streams_left += 1

    return left


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
) -> tuple[str, FinishReason, str | None, tuple[int, int]]:
    """Apply stop sequences, then max_tokens: (content, finish_reason, stop sequence hit,
    (prompt_tokens, completion_tokens))."""
    text, finish = reply.content, reply.finish_reason
    usage = reply.usage or (prompt_tokens(messages), count_tokens(text))
    text, sequence = _stop_at(text, body.get("stop"))
    if sequence is not None:
        finish = "stop"
        usage = (usage[0], count_tokens(text))
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < usage[1]:
        text, finish, sequence = text[: limit * 4], "length", None
        usage = (usage[0], count_tokens(text))
    return text, finish, sequence, usage


def _stop_at(text: str, stop: Any) -> tuple[str, str | None]:
    """The text before the earliest stop sequence (which is not included), and that sequence."""
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    best: tuple[int, str] | None = None
    for sequence in stops:
        if isinstance(sequence, str) and sequence:
            at = text.find(sequence)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, sequence)
    return (text, None) if best is None else (text[: best[0]], best[1])


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
