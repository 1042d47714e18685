"""Per-model latency profiles of the simulated pool: how long to the first token, how fast the
tokens come after it, how load slows both, and the occasional stall.

A model with a `[models.M.latency]` table draws, per call: TTFT ~ log-normal(median `ttft_ms`,
log sd `ttft_sigma`), speed ~ log-normal(median `tokens_per_s`, log sd `speed_sigma`), with
probability `stall_p` a stall of `stall_ms` before the first token; both times are multiplied by
1 + `load_slowdown` x (the model's other calls in flight). Every time is then multiplied by the
sim's `latency_scale` (0: instant; the built-in and demo pools use a small scale so tests stay
fast). The draws come from their own random stream keyed like the request's (seed, model,
messages, and the request counter unless `same_draws_per_prompt`), so adding latency changes no
other draw and a bench can recompute any call's latency offline (`call_latency`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from random import Random
from typing import Any

from arbiter.errors import ConfigError


@dataclass(frozen=True, slots=True)
class LatencyProfile:
    ttft_ms: float = 400.0  # median time to the first token
    ttft_sigma: float = 0.3  # log-normal spread of TTFT
    tokens_per_s: float = 80.0  # median output speed
    speed_sigma: float = 0.2
    load_slowdown: float = 0.0  # each other call in flight slows this call by this fraction
    stall_p: float = 0.0  # chance of a stall before the first token
    stall_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class CallLatency:
    """One call's drawn times, in seconds, already scaled and slowed."""

    ttft_s: float
    per_token_s: float
    stalled: bool

    def total_s(self, tokens: int) -> float:
        return self.ttft_s + tokens * self.per_token_s


_KEYS = frozenset(f.name for f in fields(LatencyProfile))


def parse_latency(raw: Any, where: str) -> LatencyProfile | None:
    """A `latency` table -> LatencyProfile (None when absent); strict keys and ranges."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(f"unknown key {where}.{key} (expected one of: {sorted(_KEYS)})")
    values: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ConfigError(f"{where}.{key}: expected a non-negative number, got {value!r}")
        values[key] = float(value)
    profile = LatencyProfile(**values)
    if profile.ttft_ms <= 0 or profile.tokens_per_s <= 0 or profile.stall_p > 1:
        raise ConfigError(f"{where}: ttft_ms and tokens_per_s must be > 0, stall_p in [0, 1]")
    return profile


def draw(profile: LatencyProfile, rng: Random, load: int, scale: float) -> CallLatency:
    """One call's times; always three draws (so later ones never depend on a stall)."""
    z_ttft, z_speed, u_stall = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0), rng.random()
    slow = (1.0 + profile.load_slowdown * max(load, 0)) * scale
    stalled = u_stall < profile.stall_p
    ttft = profile.ttft_ms / 1000 * math.exp(profile.ttft_sigma * z_ttft)
    if stalled:
        ttft += profile.stall_ms / 1000
    speed = profile.tokens_per_s * math.exp(profile.speed_sigma * z_speed)
    return CallLatency(ttft * slow, slow / speed, stalled)


class InFlight:
    """Calls per model still running (by their drawn end time): the load a new call sees."""

    def __init__(self) -> None:
        self._ends: dict[str, list[float]] = {}

    def load(self, model: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        ends = self._ends.get(model)
        if not ends:
            return 0
        ends[:] = [e for e in ends if e > now]
        return len(ends)

    def add(self, model: str, seconds: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._ends.setdefault(model, []).append(now + seconds)

    def clear(self) -> None:
        self._ends.clear()
