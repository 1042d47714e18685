"""Failover: try a decision's models in order, retrying with backoff within one deadline.

The single place that decides whether an upstream failure is retryable, and the per-model circuit
breaker that skips a failing model for a cool-down and then lets exactly one probe through.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from arbiter import loop_lag, shared_timeouts
from arbiter.budget import may_be_billed
from arbiter.config import BreakerSettings, FailoverSettings
from arbiter.errors import (
    ArbiterError,
    NoRouteAvailable,
    UpstreamError,
    UpstreamRedirected,
    UpstreamRejected,
    UpstreamTimeout,
)
from arbiter.records import Attempt
from arbiter.upstream.http import MAX_RETRY_AFTER_S

T = TypeVar("T")
log = logging.getLogger(__name__)
CircuitState = Literal["closed", "open", "half_open"]


def is_retryable(err: BaseException) -> bool:
    """Connect errors, timeouts, 5xx, 429 and malformed answers: yes. The caller's own fault: no."""
    return isinstance(err, UpstreamError) and not isinstance(err, UpstreamRejected)


@dataclass(slots=True)
class _Circuit:
    failures: int = 0  # consecutive
    opened_at: float | None = None
    probing: bool = False  # half-open and the one probe is in flight
    held_until: float | None = None  # the upstream asked for a pause (Retry-After) until then


MAX_HOLD_S = MAX_RETRY_AFTER_S  # an upstream's Retry-After is honoured up to this long


class CircuitBreaker:
    """Consecutive failures open a model's circuit; after the cool-down one probe may pass.

    `available` only looks (the router uses it to build the candidate set); `acquire` is what a
    caller does right before an upstream call, and in the half-open state only one caller gets
    True until that probe ends with `success`, `failure` or `release`.
    """

    def __init__(
        self,
        settings: BreakerSettings,
        on_open: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_misconfigured: Callable[[str, int, str | None], None] | None = None,
    ) -> None:
        self._s = settings
        self._circuits: dict[str, _Circuit] = {}
        self._on_open = on_open
        self._on_misconfigured = on_misconfigured
        self._clock = clock

    def _state(self, c: _Circuit | None) -> CircuitState:
        if c is None or c.opened_at is None:
            return "closed"
        if self._clock() - c.opened_at < self._s.cooldown_s:
            return "open"
        return "half_open"

    def available(self, model: str) -> bool:
        """Would `acquire` let a call through now? (No side effect.)"""
        c = self._circuits.get(model)
        state = self._state(c)
        return state == "closed" or (state == "half_open" and c is not None and not c.probing)

    def suspects(self) -> list[str]:
        """The models `available` may say no to: those whose circuit has opened (the router asks
        only about these, not about every model of a large pool)."""
        return [m for m, c in self._circuits.items() if c.opened_at is not None]

    def acquire(self, model: str) -> bool:
        """Take permission for one call: always when closed, never when open, and when half-open
        only if no other probe is in flight (this call becomes the probe)."""
        c = self._circuits.get(model)
        state = self._state(c)
        if state == "closed":
            return True
        if state == "open" or c is None or c.probing:
            return False
        c.probing = True
        log.info("circuit half-open: probing", extra={"upstream_model": model})
        return True

    def release(self, model: str) -> None:
        """The call ended without telling anything about the model (cancelled): free the probe."""
        c = self._circuits.get(model)
        if c is not None:
            c.probing = False

    def success(self, model: str) -> None:
        c = self._circuits.pop(model, None)
        if c is not None and c.opened_at is not None:
            log.info("circuit closed after a successful probe", extra={"upstream_model": model})

    def failure(self, model: str) -> None:
        c = self._circuits.setdefault(model, _Circuit())
        c.failures += 1
        if c.opened_at is None:
            if c.failures < self._s.failure_threshold:
                return
            c.opened_at = self._clock()
            log.warning("circuit opened", extra={"upstream_model": model, "failures": c.failures})
            if self._on_open is not None:
                self._on_open(model, c.failures)
        elif c.probing:  # the probe failed: open again for a full cool-down
            c.opened_at = self._clock()
            c.probing = False
        # a call that began before the circuit opened and failed since does not extend the open

    def misconfigured(self, model: str, status: int, location_host: str | None = None) -> None:
        """The upstream answered 401/403/404 (a wrong model name or key) or a 3xx (a wrong
        base_url; `location_host`: where it pointed) for this model: not the caller's fault but
        ours, so it counts against the circuit and is reported."""
        if self._on_misconfigured is not None:
            self._on_misconfigured(model, status, location_host)
        self.failure(model)

    def hold(self, model: str, seconds: float) -> None:
        """The upstream asked for a pause (Retry-After). Unlike an open circuit, a pause only
        moves the model to the end of a request's failover order: the upstream's own answer,
        not a local refusal, is what a request gets when nothing else can serve it."""
        if seconds <= 0:
            return
        c = self._circuits.setdefault(model, _Circuit())
        until = self._clock() + min(seconds, MAX_HOLD_S)
        c.held_until = max(c.held_until or until, until)
        log.info("upstream asked for a pause", extra={"upstream_model": model, "seconds": seconds})

    def held(self, model: str) -> bool:
        return self.held_for(model) > 0

    def held_for(self, model: str) -> float:
        """Seconds left on the model's pause (0 when none)."""
        c = self._circuits.get(model)
        if c is None or c.held_until is None:
            return 0.0
        left = c.held_until - self._clock()
        if left > 0:
            return left
        c.held_until = None
        if c.failures == 0:
            del self._circuits[model]  # nothing else on record
        return 0.0

    def reopens_in(self, models: Iterable[str]) -> float | None:
        """Seconds until the first of `models` whose circuit is open lets a probe through (0: one
        is half-open now, its probe in flight); None when none of them is open."""
        now = self._clock()
        waits = [
            max(self._s.cooldown_s - (now - c.opened_at), 0.0)
            for c in (self._circuits.get(m) for m in models)
            if c is not None and c.opened_at is not None
        ]
        return min(waits, default=None)

    def state(self) -> dict[str, dict[str, object]]:
        """Every model with a failure on record: state, consecutive failures, seconds to probe."""
        now = self._clock()
        out: dict[str, dict[str, object]] = {}
        for model, c in self._circuits.items():
            state = self._state(c)
            entry: dict[str, object] = {"state": state, "consecutive_failures": c.failures}
            if c.opened_at is not None:
                entry["probe_in_s"] = round(max(self._s.cooldown_s - (now - c.opened_at), 0.0), 3)
                entry["probing"] = c.probing
            if c.held_until is not None and c.held_until > now:
                entry["held_for_s"] = round(c.held_until - now, 3)
            out[model] = entry
        return out


# Upstream answers that mean the model's configuration is wrong (unknown model name, refused
# key), not the request: they open the circuit and raise an alert instead of counting as "up".
CONFIG_STATUSES = frozenset({401, 403, 404})


def misconfiguration(err: BaseException) -> tuple[int, str | None] | None:
    """The upstream status (and, for a redirect, the Location's host) of an answer that says the
    model's configuration is wrong, not the request or the upstream's health: a 401/403/404
    (however classified: a 401 is surfaced as a 503) or a redirect; None for any other error."""
    if isinstance(err, UpstreamRedirected):
        return err.upstream_status or 300, err.location_host
    if isinstance(err, UpstreamError) and err.upstream_status in CONFIG_STATUSES:
        return err.upstream_status, None
    return None


# OpenAI's codes for a 400 about the model, not the request: it does not take that parameter or
# value (its reasoning models refuse logprobs, a temperature other than 1, max_tokens...)
_NOT_THIS_MODEL = frozenset({"unsupported_parameter", "unsupported_value"})


def not_this_model(err: BaseException) -> bool:
    """Whether a refusal says the model cannot take the request as sent (another model may):
    nothing in the pool's config says which OpenAI models take `logprobs`, so `auto` routed it
    to one that refuses it and the client got that upstream's 400, the next model unasked."""
    if not isinstance(err, UpstreamRejected) or err.upstream_status != 400:
        return False
    body = err.body
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") in _NOT_THIS_MODEL


# Below this much time left, a new try could not get an answer back: the deadline has passed.
_MIN_TRY_S = 0.005


def _backoff_s(settings: FailoverSettings, retry: int) -> float:
    """Exponential backoff with jitter: backoff_ms * 2^(retry-1) * U[0.5, 1.5)."""
    return float(settings.backoff_ms / 1000 * 2 ** (retry - 1) * (0.5 + random.random()))


async def run_with_failover(
    models: Sequence[str],
    call: Callable[[str], Awaitable[T]],
    *,
    settings: FailoverSettings,
    breaker: CircuitBreaker,
    attempts: list[Attempt],
    deadline_s: float | None = None,
    can_finish: Callable[[str], bool] | None = None,
) -> tuple[str, T]:
    """Call `call(model)` for each model in order until one succeeds, retrying each retryable
    failure up to `retries_per_model` times, all within `deadline_s`. Every try (and every model
    skipped for an open circuit) is appended to `attempts`. Raises the caller's-fault error at
    once, else the last error (a clean ArbiterError), or NoRouteAvailable if nothing was tried.
    `deadline_s` replaces `settings.deadline_s` (a latency SLO); `can_finish(model)` (under an
    SLO) says whether a model could still answer in time: one that cannot is not tried after
    the first (attempt `cannot_finish_in_time`)."""
    deadline = time.monotonic() + (settings.deadline_s if deadline_s is None else deadline_s)
    # a deadline shorter than the configured one is the caller's (a latency SLO): a try it cuts
    # says nothing against the model, so it does not count against its circuit (a longer SLO's
    # cut does: the model ran past the operator's own deadline too)
    callers = deadline_s is not None and deadline_s < settings.deadline_s
    out_of_time = False
    last: ArbiterError | None = None
    tried = models[: max(settings.max_models, 1)]
    # A model paused by its upstream (Retry-After) goes last: a last resort, never dropped, so
    # the client gets the upstream's own answer rather than a local refusal.
    queue = [m for m in tried if not breaker.held(m)]
    paused = [m for m in tried if m not in queue]
    attempts.extend(Attempt(m, False, 0.0, "upstream_paused") for m in paused)
    queue += paused
    requeued = set(paused)
    i = 0
    while i < len(queue):
        model = queue[i]
        i += 1
        if i > 1 and can_finish is not None and not can_finish(model):
            attempts.append(Attempt(model, False, 0.0, "cannot_finish_in_time"))
            continue
        pause = breaker.held_for(model)
        if pause > settings.max_retry_after_s or pause >= deadline - time.monotonic():
            pause = 0.0  # too long to sit out: ask anyway
        for retry in range(settings.retries_per_model + 1):
            if deadline - time.monotonic() < _MIN_TRY_S:
                out_of_time = True
                break
            if pause > 0:
                await asyncio.sleep(min(pause, deadline - time.monotonic()))
            if not breaker.acquire(model):
                attempts.append(Attempt(model, False, 0.0, "circuit_open"))
                break  # open, or half-open with its one probe already in flight: next model
            started = time.perf_counter()
            try:
                async with shared_timeouts.timeout(max(deadline - time.monotonic(), 0.001)):
                    result = await call(model)
            except TimeoutError:
                # The deadline is the request's: once it has cut a try, nothing is left to retry
                # with (an event loop may fire the timer a hair early, so don't re-check the clock).
                if callers:
                    breaker.release(model)
                else:
                    breaker.failure(model)
                ms, held = _took_ms(started)
                attempts.append(
                    Attempt(model, False, ms, "upstream_timeout", billed=True, held_ms=held)
                )
                raise UpstreamTimeout(f"{model}: the request deadline passed") from None
            except ArbiterError as caught:
                err = caught
            except asyncio.CancelledError:  # the client left: the abandoned call is on record
                breaker.release(model)  # (it may be billed: Budgets.call committed its worst)
                ms, held = _took_ms(started)
                attempts.append(Attempt(model, False, ms, "cancelled", billed=True, held_ms=held))
                raise
            except BaseException:  # a bug: the probe is free again
                breaker.release(model)
                raise
            else:
                breaker.success(model)
                ms, held = _took_ms(started)
                attempts.append(Attempt(model, True, ms, held_ms=held))
                return model, result
            # the upstream's own status (a 529 stays a 529), else the one we answer with
            status = (
                (err.upstream_status or err.http_status) if isinstance(err, UpstreamError) else None
            )
            ms, held = _took_ms(started)
            billed = may_be_billed(err)
            attempts.append(
                Attempt(model, False, ms, err.code, status, billed=billed, held_ms=held)
            )
            if (config := misconfiguration(err)) is not None:
                # every request to this model will fail the same way: count it against the
                # circuit, say so, and let the next model answer
                breaker.misconfigured(model, *config)
                last = err
                break
            if not is_retryable(err) and i < len(queue) and not_this_model(err):
                breaker.success(model)  # it answered: up, but not for this request
                last = err
                break  # a routed request's next model may take it
            if not is_retryable(err):
                if isinstance(err, UpstreamRejected):
                    breaker.success(model)  # it answered: the model is up, the request is at fault
                else:
                    breaker.release(model)
                raise err
            log.warning(
                "upstream attempt failed",
                extra={
                    "model": model, "error": err.code, "detail": err.message,
                    "status": status, "retry": retry,
                },
            )  # fmt: skip
            breaker.failure(model)
            last = err
            pause = _backoff_s(settings, retry + 1)
            asked = err.retry_after_s if isinstance(err, UpstreamError) else None
            if asked is not None:
                breaker.hold(model, asked)  # later requests try their other models first
                if asked > settings.max_retry_after_s or asked >= deadline - time.monotonic():
                    # too long to sit out: asked again in this request it only says it again
                    # (it was requeued and called at once, the pause it had just set ignored)
                    break
                if i < len(queue) and model not in requeued:
                    queue.append(model)  # others can answer now; it stays a last resort
                    requeued.add(model)
                    break
                # nothing else left: sit out the pause (and a hair more: timers may fire early)
                pause = max(pause, asked + _MIN_TRY_S)
            elif not breaker.available(model):
                break  # its circuit just opened: on to the next model
    if last is not None:
        raise last
    if out_of_time:  # not the circuits: the deadline left no time to try a model (a 504)
        raise UpstreamTimeout("The request deadline passed before any model could be called.")
    raise NoRouteAvailable(
        "Every eligible model is temporarily unavailable (circuits open).",
        retry_after_s=breaker.reopens_in(queue),
    )


def _took_ms(started: float) -> tuple[float, float]:
    """A call's milliseconds since `started` (perf_counter) and, of them, how long the loop
    held its answer back (loop_lag.late_s): the latency model learns the upstream's part."""
    now = time.perf_counter()
    return (now - started) * 1000, loop_lag.late_s(started, now) * 1000
