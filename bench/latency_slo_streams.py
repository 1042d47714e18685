"""A stream share for bench/latency_slo.py's workload (the replay's `--stream-share`).

The default workload sends no streams, so the latency model only ever sees non-streaming totals
and no request asks `x-arbiter-max-ttft-ms`. With a share S > 0, each request is a stream with
chance S (its own random stream per seed, so the rest of the workload is unchanged); a stream
that drew a total SLO asks a first-token SLO instead (`TTFT_SLO_MS`: the loose 8 s becomes 2 s,
small's p90 TTFT is 1.76 s; the tight 2.5 s becomes 1 s, medium's is 0.88 s; the 0.7 s that is
often out of reach becomes 0.4 s, turbo's is 0.37 s). A stream shows the sidecar its TTFT and
its speed apart (`LatencyModel.observe_call(ttft_s=...)`); one whose first token is later than
its TTFT SLO is cut at that deadline (billed in full, not good, a right-censored TTFT).

Each call's TTFT is the sim's own draw for it (the same draw the item's total came from, under
`same_draws_per_prompt`), and the chance of meeting a TTFT SLO is the profile's: a log-normal
TTFT plus the 0.5% stall. Attainment, the oracles and the bar are the live bench's rules
(`latency_slo`), read on the first token instead of the total.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import latency_slo as live
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.failures import messages_digest, request_rng
from arbiter.offline.sim.latency_profile import draw

# a stream's first-token SLO for the total SLO the request drew (real ms)
TTFT_SLO_MS = {8000.0: 2000.0, 2500.0: 1000.0, 700.0: 400.0}


@dataclass(frozen=True, slots=True)
class Stream:
    """One request's stream side: None for a request that is not a stream."""

    ttft_slo_ms: float | None  # the first-token SLO (None: a stream without an SLO)
    ttft_s: dict[str, float]  # per model: this call's true TTFT (real seconds)
    p_fit: dict[str, float]  # per model: P(TTFT <= the SLO) under the profile (1.0: no SLO)


def _p_ttft(name: str, slo_ms: float) -> float:
    """P(TTFT <= slo) for `name`'s profile: log-normal TTFT, plus a stall with chance STALL_P."""
    _, _, ttft_ms, _, _ = live.POOL[name]

    def phi(ms: float) -> float:
        if ms <= 0:
            return 0.0
        return 0.5 * math.erfc(-math.log(ms / ttft_ms) / live.TTFT_SIGMA / math.sqrt(2))

    return (1 - live.STALL_P) * phi(slo_ms) + live.STALL_P * phi(slo_ms - live.STALL_MS)


def plan(items: list[live.Item], seed: int, share: float) -> list[Stream | None]:
    """Which requests are streams (chance `share` each, seeded per seed) and their TTFT truth."""
    if share <= 0:
        return [None] * len(items)
    rng = random.Random(seed * 7907 + 3)
    cfg = parse_config(live.sim_settings(1.0))
    out: list[Stream | None] = []
    for it in items:
        if rng.random() >= share:
            out.append(None)
            continue
        digest = messages_digest(it.body["messages"])
        ttft = {}
        for name in live.POOL:
            profile = cfg.models[name].latency
            assert profile is not None
            call = draw(profile, request_rng(cfg.seed, name + "#latency", digest, 0), 0, 1.0)
            # the item's total is this very draw's (offline_call, counter 0)
            assert abs(call.total_s(it.truth[name][0]) - it.truth[name][1]) < 1e-9
            ttft[name] = call.ttft_s
        slo = None if it.slo_ms is None else TTFT_SLO_MS[it.slo_ms]
        p_fit = {m: 1.0 if slo is None else _p_ttft(m, slo) for m in live.POOL}
        out.append(Stream(slo, ttft, p_fit))
    return out


def late(it: live.Item, s: Stream | None, model: str) -> bool:
    """Whether the call misses its SLO (a stream: its first token; else its total)."""
    if s is not None:
        return s.ttft_slo_ms is not None and s.ttft_s[model] * 1000 > s.ttft_slo_ms
    return it.slo_ms is not None and it.truth[model][1] * 1000 > it.slo_ms


def has_slo(it: live.Item, s: Stream | None) -> bool:
    return s.ttft_slo_ms is not None if s is not None else it.slo_ms is not None


def p_fit(it: live.Item, s: Stream | None, model: str) -> float:
    return s.p_fit[model] if s is not None else it.p_fit[model]


def reachable(it: live.Item, s: Stream | None) -> bool:
    """A request whose SLO some model over the quality bar meets at the quantile
    (`latency_slo.reachable`, on the first token for a stream)."""
    if s is None:
        return live.reachable(it)
    if s.ttft_slo_ms is None:
        return True
    return any(p >= live.QUANTILE for m, p in s.p_fit.items() if live.good_enough(m, it.task))


def quantile_oracle(it: live.Item, s: Stream | None) -> str:
    """`latency_slo.quantile_oracle`'s rule (each model's true chance of meeting the SLO, >= the
    quantile), on the first token for a stream."""
    if s is None:
        return live.quantile_oracle(it)
    ok = [m for m in live.POOL if live.good_enough(m, it.task)]
    if s.ttft_slo_ms is not None:
        fits = [m for m in ok if s.p_fit[m] >= live.QUANTILE]
        if not fits:
            return max(ok, key=lambda m: s.p_fit[m])
        ok = fits
    return min(ok, key=lambda m: it.truth[m][3])


def oracle(it: live.Item, s: Stream | None) -> str:
    """Issue 19's rule knowing each call's latency (`latency_slo.oracle`; a stream: its TTFT)."""
    if s is None:
        return live.oracle(it)
    ok = [m for m in live.POOL if live.good_enough(m, it.task)]
    if s.ttft_slo_ms is not None:
        slo = s.ttft_slo_ms
        fits = [m for m in ok if s.ttft_s[m] * 1000 <= slo]
        if not fits:
            return min(ok, key=lambda m: s.ttft_s[m])
        ok = fits
    return min(ok, key=lambda m: it.truth[m][3])
