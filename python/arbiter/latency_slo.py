"""A request's latency SLOs: the caller's headers, else its tenant's, else its task's config.

`x-arbiter-max-latency-ms` bounds the whole answer (routing at `routing.latency_quantile`, and
the request's deadline: the answer is cut there, recorded `deadline_exceeded`);
`x-arbiter-max-ttft-ms` bounds the time to the first token (routing and failover only: a first
token late by a little is still worth more to a stream than none). Each is resolved on its own:
the header, else `[tenants.X] max_latency_ms` / `max_ttft_ms`, else `[latency.max_latency_ms]` /
`[latency.max_ttft_ms]` for the request's task.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from arbiter import loop_lag
from arbiter.config import Settings
from arbiter.config_checks import MAX_SLO_MS
from arbiter.errors import InvalidRequest
from arbiter.latency import LatencyModel
from arbiter.records import Attempt

HEADER_TOTAL = "x-arbiter-max-latency-ms"
HEADER_TTFT = "x-arbiter-max-ttft-ms"
# attempts that never reached the upstream carry no latency evidence
_NOT_CALLED = frozenset({"circuit_open", "upstream_paused", "cannot_finish_in_time"})
# times below this are the sidecar's and the host's jitter, not the model's: a 1 ms mock that
# takes 4 ms on a busy core is "x4" to a ratio, and alarmed several times a second in
# bench/scale.py's tail run; an SLO is set in hundreds of milliseconds (latency_slo.md)
MATERIAL_S = 0.025
# a call's time includes the wait for the sidecar's loop to read its answer, up to about two loop
# iterations (the one running when the answer came, then its turn in the next), and a late tick
# measures one. Floored at MATERIAL_S alone, a zero-delay mock's calls through a busy sidecar
# (5-60 ms and more on a shared host) alarmed 14 times in 2,000 and the sidecar adopted 0.3-2.9x
# "changes" 30-89 times a tail run (tests/data/busy_sidecar_latency.txt.gz, scale.md)
NOISE_FACTOR = 2.0


def material_ratio(total_s: float, expected_s: float, noise_s: float = 0.0) -> float:
    """A call's time over the time expected of it, both floored at MATERIAL_S or at
    NOISE_FACTOR x the sidecar's own recent timing noise (`noise_s`: loop_lag.noise_s()),
    whichever is more: 1.0 for any call of a model that is fast either way, the plain ratio for
    the calls an SLO can feel."""
    floor = max(MATERIAL_S, NOISE_FACTOR * noise_s)
    return max(total_s, floor) / max(expected_s, floor)


@dataclass(frozen=True, slots=True)
class LatencySLO:
    max_latency_ms: float | None = None
    max_ttft_ms: float | None = None


NO_SLO = LatencySLO()


def _parse_ms(name: str, value: str) -> float:
    """A positive decimal number of milliseconds, <= an hour: digits, then optionally a point
    and more digits. One rule for both ends: `800.` was read as 800 while `.5` was refused."""
    text = value.strip()
    whole, point, fraction = text.partition(".")
    if not (
        0 < len(text) <= 16
        and text.isascii()
        and whole.isdigit()
        and (not point or fraction.isdigit())
    ):
        shown = value if len(value) <= 32 else value[:32] + "..."
        raise InvalidRequest(
            f"Header {name} must be a number of milliseconds (e.g. 800), got {shown!r}.",
            param=name,
        )
    ms = float(text)
    if not 1.0 <= ms <= MAX_SLO_MS:
        raise InvalidRequest(
            f"Header {name} must be between 1 and {MAX_SLO_MS:.0f} ms, got {text}.", param=name
        )
    return ms


def _single(headers: Mapping[str, str], name: str) -> str | None:
    """The header's one value. Sent twice it is one comma-joined value (RFC 9110 5.3), which is
    no number: a 400, not the first value read and the other dropped unseen (probe21)."""
    value = headers.get(name)
    if value is None:
        return None
    getlist = getattr(headers, "getlist", None)  # Starlette's Headers keeps every field
    if getlist is not None and len(values := getlist(name)) > 1:
        raise InvalidRequest(
            f"Header {name} must be sent once, got {len(values)} values.", param=name
        )
    return value


def from_headers(headers: Mapping[str, str]) -> LatencySLO:
    """The SLOs a request's headers ask for; a malformed value is a 400 naming the header."""
    total, ttft = _single(headers, HEADER_TOTAL), _single(headers, HEADER_TTFT)
    if total is None and ttft is None:
        return NO_SLO
    return LatencySLO(
        _parse_ms(HEADER_TOTAL, total) if total is not None else None,
        _parse_ms(HEADER_TTFT, ttft) if ttft is not None else None,
    )


def resolve(asked: LatencySLO, settings: Settings, tenant: str, task: str) -> LatencySLO:
    """The header's value, else the tenant's, else the task's (each SLO on its own)."""
    t = settings.tenants.get(tenant)
    lat = settings.latency
    total = asked.max_latency_ms
    if total is None:
        total = t.max_latency_ms if t is not None and t.max_latency_ms is not None else None
        total = total if total is not None else lat.max_latency_ms.get(task)
    ttft = asked.max_ttft_ms
    if ttft is None:
        ttft = t.max_ttft_ms if t is not None and t.max_ttft_ms is not None else None
        ttft = ttft if ttft is not None else lat.max_ttft_ms.get(task)
    if total is None and ttft is None:
        return NO_SLO
    return LatencySLO(total, ttft)


def can_finish(
    predicted: Mapping[str, tuple[float, float]],
    slo: LatencySLO,
    deadline: float,
    spent_s: float = 0.0,
) -> Callable[[str], bool]:
    """For failover: whether a fallback's predicted latency (at the quantile) fits what is left
    of the request's time (the deadline, and for the first token its SLO from the request's
    start: `spent_s` is the time already spent before this check was made, e.g. planning, the
    budget's reservation or a cascade's first try, which the deadline counts too)."""
    started = time.monotonic() - spent_s

    def check(model: str) -> bool:
        guess = predicted.get(model)
        if guess is None:
            return True
        now = time.monotonic()
        if slo.max_latency_ms is not None and guess[1] > (deadline - now) * 1000:
            return False
        if slo.max_ttft_ms is not None:
            left = slo.max_ttft_ms - (now - started) * 1000
            if guess[0] > left:
                return False
        return True

    return check


def observe_attempts(
    latency: LatencyModel,
    tenant: str,
    model: str,
    attempts: Sequence[Attempt],
    *,
    tokens: int,
    answered: bool,
    stream: bool,
    decode_ms: float | None,
    on_answer: Callable[[str, float], None] | None = None,
    predicted_total_ms: float | None = None,
) -> None:
    """Teach the latency model what the request's upstream calls showed: each failed call's
    elapsed time (a lower bound on its TTFT) and the answering call (stream: its TTFT and the
    decode time after it; else its total). `predicted_total_ms`: the routed prediction of
    `model`'s total (under an SLO), whose realized coverage `latency.coverage` tracks: the
    answering call's total, or a call of that model cut after the prediction had passed."""
    coverage = latency.coverage if predicted_total_ms is not None else None
    last_ok = None
    if answered:
        for i in range(len(attempts) - 1, -1, -1):
            if attempts[i].ok and attempts[i].model == model:
                last_ok = i
                break
    opened: set[str] = set()  # a stream that failed after its first token is not a slow TTFT
    for i, a in enumerate(attempts):
        if a.latency_ms <= 0 or a.error in _NOT_CALLED:
            continue
        # the upstream's part of the call's time, less the loop's hold on its answer (lat26)
        upstream = loop_lag.upstream_s(a.latency_ms / 1000, a.held_ms / 1000)
        if coverage is not None and predicted_total_ms is not None and a.model == model:
            if i == last_ok:
                took = a.latency_ms + (decode_ms if stream and decode_ms is not None else 0.0)
                coverage.observe(model, predicted_total_ms, took)
            elif not a.ok and a.latency_ms > predicted_total_ms:  # cut late: a miss all the same
                coverage.observe(model, predicted_total_ms, a.latency_ms)
        if upstream is None:  # the loop held it too long to tell the upstream's time
            if stream and (a.ok or a.ttft_ms is not None):
                opened.add(a.model)
            if a.ok or a.model in opened:
                continue
            upstream = (a.latency_ms - a.held_ms) / 1000  # a failed call's: still a lower bound
        elapsed = upstream
        if i == last_ok and on_answer is not None and not _starved(attempts, decode_ms):
            # the answering call against what the model expected of it (the change detector's
            # signal: ~1 while the model is as learned, whatever the answer's length)
            total = elapsed + (decode_ms / 1000 if stream and decode_ms is not None else 0.0)
            # (the calls' own level, not the prior-weighted fit: a model's first calls pulled
            # toward a prior, or the pool's typical model, would read as a change: lat21)
            ttft_mu, speed_mu = latency.calls_level(a.model, tenant)
            expected = math.exp(ttft_mu) + max(tokens, 1) / math.exp(speed_mu)
            on_answer(a.model, material_ratio(total, expected, loop_lag.noise_s()))
        if i == last_ok and not stream:
            latency.observe_call(a.model, tenant, elapsed_s=elapsed, tokens=tokens)
        elif i == last_ok and decode_ms is not None:
            latency.observe_call(
                a.model, tenant, elapsed_s=elapsed + decode_ms / 1000, tokens=tokens,
                ttft_s=elapsed,
            )  # fmt: skip
        elif stream and (a.ok or a.ttft_ms is not None):
            # an opened stream (one that broke after it too): its first token came after that
            opened.add(a.model)
            ttft_s = elapsed if a.ttft_ms is None else a.ttft_ms / 1000
            latency.observe(a.model, tenant, ttft_s=ttft_s)
        elif not a.ok and a.model not in opened:
            latency.observe_call(a.model, tenant, elapsed_s=elapsed, tokens=0, failed=True)


def _starved(attempts: Sequence[Attempt], decode_ms: float | None) -> bool:
    """Whether the sidecar's own loop was starved while the request's calls ran: their times
    then include the sidecar's queueing, and under overload the change detector read that as
    the model slowing down (several alarms and adoptions a second in bench/scale.py's tail run)."""
    window_s = (sum(a.latency_ms for a in attempts) + (decode_ms or 0.0)) / 1000
    return loop_lag.starved_within(window_s)


def deadline_s(configured: float, slo: LatencySLO) -> float:
    """The request's deadline in seconds: its total SLO where it has one (the caller's header,
    else its tenant's or task's), longer or shorter than `failover.deadline_s`, which bounds
    only a request without one. Why: the header is the caller's contract; capped at the config's
    150 s, a caller who asked for 5 minutes was cut at 150 s (each call's own timeouts, e.g.
    `failover.total_timeout_s`, still apply, and an SLO is at most an hour)."""
    return configured if slo.max_latency_ms is None else slo.max_latency_ms / 1000
