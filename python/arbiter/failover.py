"""Failover: try a decision's models in order, retrying with backoff within one deadline.

The single place that decides whether an upstream failure is retryable, and the per-model circuit
breaker that skips a failing model for a cool-down and then lets one probe through.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from arbiter.config import BreakerSettings, FailoverSettings
from arbiter.errors import ArbiterError, NoRouteAvailable, UpstreamError, UpstreamRejected
from arbiter.records import Attempt

T = TypeVar("T")


def is_retryable(err: BaseException) -> bool:
    """Connect errors, timeouts, 5xx, 429 and malformed answers: yes. The caller's own fault: no."""
    return isinstance(err, UpstreamError) and not isinstance(err, UpstreamRejected)


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    """Consecutive failures open a model's circuit; after the cool-down one probe may pass."""

    def __init__(
        self,
        settings: BreakerSettings,
        on_open: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._s = settings
        self._circuits: dict[str, _Circuit] = {}
        self._on_open = on_open
        self._clock = clock

    def available(self, model: str) -> bool:
        c = self._circuits.get(model)
        if c is None or c.opened_at is None:
            return True
        if self._clock() - c.opened_at < self._s.cooldown_s:
            return False
        return not c.probing  # half-open: exactly one probe at a time

    def begin(self, model: str) -> None:
        c = self._circuits.get(model)
        if c is not None and c.opened_at is not None:
            c.probing = True

    def success(self, model: str) -> None:
        self._circuits.pop(model, None)

    def failure(self, model: str) -> None:
        c = self._circuits.setdefault(model, _Circuit())
        c.failures += 1
        was_open = c.opened_at is not None
        if c.failures >= self._s.failure_threshold or was_open:
            c.opened_at = self._clock()
            c.probing = False
            if not was_open and self._on_open is not None:
                self._on_open(model, c.failures)

    def state(self) -> dict[str, dict[str, object]]:
        now = self._clock()
        out: dict[str, dict[str, object]] = {}
        for model, c in self._circuits.items():
            if c.opened_at is None:
                status = "closed"
            elif now - c.opened_at < self._s.cooldown_s:
                status = "open"
            else:
                status = "half_open"
            out[model] = {"state": status, "consecutive_failures": c.failures}
        return out


async def run_with_failover(
    models: Sequence[str],
    call: Callable[[str], Awaitable[T]],
    *,
    settings: FailoverSettings,
    breaker: CircuitBreaker,
    attempts: list[Attempt],
) -> tuple[str, T]:
    """Call `call(model)` for each model in order until one succeeds. Every try is appended to
    `attempts`. Raises the last error (a clean ArbiterError) if none succeeded."""
    deadline = time.monotonic() + settings.deadline_s
    last: ArbiterError | None = None
    tried_any = False
    for model in models[: max(settings.max_models, 1)]:
        if not breaker.available(model) and tried_any:
            attempts.append(Attempt(model, False, 0.0, "circuit_open"))
            continue
        for retry in range(settings.retries_per_model + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if retry:
                backoff = settings.backoff_ms / 1000 * (2 ** (retry - 1)) * (0.5 + random.random())
                await asyncio.sleep(min(backoff, remaining))
            tried_any = True
            breaker.begin(model)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                    result = await call(model)
            except TimeoutError:
                err: ArbiterError = UpstreamError(f"{model}: the request deadline passed")
            except ArbiterError as caught:
                err = caught
            else:
                breaker.success(model)
                attempts.append(Attempt(model, True, (time.perf_counter() - started) * 1000))
                return model, result
            status = err.http_status if isinstance(err, UpstreamError) else None
            attempts.append(
                Attempt(model, False, (time.perf_counter() - started) * 1000, err.code, status)
            )
            if not is_retryable(err):
                raise err
            breaker.failure(model)
            last = err
            if not breaker.available(model):
                break  # the circuit just opened: move on to the next model
    if last is not None:
        raise last
    raise NoRouteAvailable("Every eligible model is temporarily unavailable (circuits open).")
