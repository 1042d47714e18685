"""How fast each model answers: time to first token (TTFT) and output speed, learned per model
(and per tenant once a tenant has its own evidence), and the predicted total latency of a request
at a stated quantile.

The model. log TTFT and log speed (tokens/s) are each normal (a log-normal fit); their means and
variances are exponentially forgotten in time (half-life `latency.half_life_s`), so the estimate
follows the present. The predicted total of a request is TTFT + answer tokens / speed, where the
answer's log length is normal too (`OutputLength.log_moments`): decode time = tokens / speed is
then log-normal with the summed log variances, and the total's quantile is that of a log-normal
matched to the sum's mean and variance (Fenton-Wilkinson). `tests/test_latency.py` checks it is
calibrated on synthetic draws; `bench/latency_slo.py` on the simulated pool.

Forward decay (Cormode et al. 2009). An observation at time t enters the sums with weight
2^((t - ref) / half_life), for a reference time `ref`: reading the sums at any later time is a
ratio (the decay of all terms cancels), and sums with the same `ref` add. So each replica keeps
its own sums and publishes them (a snapshot row per (tenant, model) in the store, idempotent),
and every replica's view is its own sums plus everyone else's latest rows (services.py syncs).
The prior (per-model, else the pool's typical model once two models have POOL_MIN_CALLS calls,
else `latency.prior_*`) is worth `latency.prior_weight` calls against the number of calls seen
(not the decayed weight), in level and spread, for streams and whole answers alike
(`blend_upper`: its distance from the calls widens the spread only where it reads the model
faster): decay decides which calls count, not whether a model idle for a while is again
unknown.

What is observed (decision_record.py, through `observe_call`):
  * a stream: TTFT = time to its first content token; speed = tokens / (end - first token);
  * a non-streaming answer: only the total T for N tokens. T = TTFT + N x (seconds per token),
    so a least-squares line of T on N over the calls (decayed sums, additive like the rest) gives
    mean TTFT (its intercept) and mean seconds per token (its slope) once answer lengths varied;
    before that, the line of the model's own streams' means (else the prior's) scaled to the
    mean total. Each part's spread comes from how
    the line's squared residual grows with N: Var(T | N) = Var(TTFT) + N^2 Var(s per token), so
    a second least-squares line, of the squared residual on N^2, splits the two (`log_vars`;
    its sums are five more: N^3, N^4, T N^2, T N^3, T^2 N^2); when the lengths did not vary
    enough for it (or a replica not yet upgraded wrote rows without those sums), a split at a
    given ratio that keeps the whole residual's variance. That split is loose on a few hundred
    calls (along a ridge of splits that fit the same totals: latency_split), so it is shrunk
    toward the split the model's own streams show, if it has some (their ratio only, not their
    width), else toward ratio 1, one shared variance.
    Why split at all: one shared variance (0.26-0.32 in log sd on bench/latency_slo.py, for a truth
    of 0.3 and 0.2) made short answers, which TTFT decides, look safer and long ones riskier than
    they are. Measured: an online EM that split each total by its posterior crept along the ridge of
    splits that fit the typical total (400 ms / 350 tokens/s after 300 calls for a truth of 250 ms /
    220 tokens/s, from the default prior); the line reaches it.
    A model seen mostly through non-streaming calls is predicted from the line, else from the
    streams' direct sums;
  * a failed attempt: its elapsed time is a lower bound on that call's TTFT (right-censored).
    It counts only when it is informative, i.e. beyond the current median: then the moments of
    log TTFT given that it exceeds the bound (the truncated normal's, via the inverse Mills
    ratio) are recorded. A quick failure (an immediate 503) says nothing about speed;
  * an answered call beyond the model's own p99.4 counts as at it (`_CLIP_Z`), once the model
    has a few calls: a stall is a fact about that call, not the spread of the next ones. One
    beyond both its p99.98 and the median + 3 robust sds of the model's recent calls is a stall
    and left out (`_STALL_Z`, latency_outliers: a tenth of the calls stalled widened the fit
    that the p99.4 is read from). The
    calls before that are kept (per replica, its own) and, once 20 exist, re-clipped against
    their own median and MAD, their sums corrected (latency_early): one slow early call on a
    long answer held a model's speed spread wide for good.

Each model's two log variances are then shrunk toward the median of the other models' own
(latency_pool, `latency.spread_pool_calls`): a few hundred calls hold a spread loosely.
A young line-fitted model's split of its level into TTFT and seconds per token is shrunk toward
the pool's typical split without it, worth `latency.split_prior_calls` (30) calls, its total at
its calls' mean length kept (latency_math.shrink_level_split; on since slo26, whose ship rule
counts seeds against issue 19's goals, bench/results/latency_slo.md).

`adopt(model, ...)` drops a model's evidence and starts again at a given level (for a
change-point detector): it opens a new epoch, which replicas adopt on their next sync, and rows
of an older epoch stop counting.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from arbiter.latency_coverage import CoverageTracker
from arbiter.latency_early import EarlyCall, reclip
from arbiter.latency_explore import LatencyExplore
from arbiter.latency_math import (
    SPLIT_MIN_CALLS,
    SPLIT_PSEUDO,
    Moments,
    blend,
    blend_spread,
    blend_upper,
    censored_moments,
    fit_line,
    log_vars,
    lognormal_sum_log_moments,
    lognormal_sum_quantile,
    normal_quantile,
    shrink_level_split,
)
from arbiter.latency_outliers import Outliers
from arbiter.latency_pool import MIN_CALLS as POOL_MIN_CALLS
from arbiter.latency_pool import REFRESH_CALLS as POOL_REFRESH_CALLS
from arbiter.latency_pool import medians_without_each, pool_targets, shrink
from arbiter.latency_split import stream_ratio
from arbiter.latency_sums import DecayedSums, LatencyRow

ALL_TENANTS = "*"  # the pooled estimate of a model, over every tenant
_REBASE_HALF_LIVES = 40.0  # re-reference the sums before 2^x grows past ~1e12
_MIN_S = 1e-3  # times below a millisecond are clamped (log of 0)
# A call slower than the model's own p99.4 (z 2.5) counts as at it, once the model has
# _CLIP_MIN_CALLS calls: a stall or the host's hiccup (the sim's 0.5% of 2 s stalls; a load
# spike on a shared machine) is a fact about that call, not about the spread of the next ones,
# yet its square weighed in every variance: measured on a 60 ms model, a 0.36-0.52 log sd for a
# truth of 0.3. Why 2.5, not 3.5 (its p99.98, until s10): a burst of stalled calls (a host stall
# slows several in a row) entered at z 3.5 each, and in bench/latency_slo_replay.py --stalls
# (bursts of 3-10 calls at 2-10x every ~60 requests) raised cost vs the oracle from 1.097 to
# 1.306 (requests) / 1.278 (one model's calls) over the dev seeds; at 2.5, 1.157 / 1.206 (on a
# first schedule: 3.5 1.349, 3.0 1.280, 2.5 1.147, 2.0 1.126 but attainment without stalls
# 0.9967 -> 0.9947). Without stalls 2.5 changes nothing (1.0968 -> 1.0958, attainment equal):
# clipping a normal at 2.5 sd lowers its fitted sd by under 1%, so a quantile beyond the clip
# (routing.latency_quantile up to 0.999, z 3.09) is still read from the fitted spread.
_CLIP_Z, _CLIP_MIN_CALLS = 2.5, 20.0
# Those first calls are then re-clipped at their own median + 2.5 robust sds (latency_early):
# at 3.5 a 4.3x outlier on a long answer still held turbo's speed log sd at 0.26-0.28 for a
# truth of 0.2 (its N^4 leverage in the split); at 2.5, 0.23-0.24, as without it (synthetic replay).
_EARLY_Z = 2.5
# A call is a stall, and stays out of the sums, when two views agree: beyond its model's recent
# median + 3 robust sds (latency_outliers: robust to a tenth of the calls stalled, where the fit
# is not) and beyond the fit's own p99.98. The window alone also dropped the clean tail the fit
# draws its spread from (0.9% of clean calls: a 300-token answer's p90 3% under the truth in
# tests/test_latency_outliers.py); with both, 0.5% above it, as without the window.
_STALL_Z = 3.5
# the pool's typical model (a model's prior where it has none of its own) needs this many models
# with POOL_MIN_CALLS calls: one model is not a pool's typical one
TYPICAL_MIN_MODELS = 2


@dataclass(frozen=True, slots=True)
class LatencyPrior:
    """What an unknown model is assumed to do: median TTFT and speed, and their log spread."""

    ttft_ms: float = 2000.0
    tokens_per_s: float = 20.0
    log_sd: float = 0.6


@dataclass(slots=True)
class Estimate:
    """A (tenant, model)'s current fit: normal moments of log TTFT (s) and log speed (tok/s)."""

    ttft_mu: float
    ttft_var: float
    speed_mu: float
    speed_var: float
    calls: float


class LatencyModel:
    """Per (tenant, model) latency sums of this replica, plus the other replicas' rows."""

    def __init__(
        self,
        *,
        replica: str = "local",
        half_life_s: float = 900.0,
        prior: LatencyPrior | None = None,
        priors: Mapping[str, LatencyPrior] | None = None,
        prior_weight: float = 3.0,
        tenant_min_calls: float = 50.0,
        clock: Callable[[], float] = time.time,
        coverage: CoverageTracker | None = None,
        outliers: Outliers | None = None,
        spread_pool_calls: float = 0.0,
        spread_prior_pool: bool = False,
        explore: LatencyExplore | None = None,
        stream_prior_distance: bool = True,
        split_prior_calls: float = 0.0,
    ) -> None:
        self.replica = replica
        self.half_life = half_life_s
        self.prior = prior or LatencyPrior()
        self.priors = dict(priors or {})
        self.prior_weight = prior_weight
        self.tenant_min_calls = tenant_min_calls
        self._clock = clock
        # per model, the margin that keeps the predicted total's coverage at its quantile
        self.coverage = coverage
        # which answered calls are stalls, kept out of the sums (latency_outliers); None: all in
        self.outliers = outliers
        # each model's spread shrunk toward the other models' median, worth this many calls
        # (latency_pool); 0: off
        self.spread_pool_calls = spread_pool_calls
        # the prior's spread (worth prior_weight calls in each model's variances) is the median
        # of the other models' own, not the configured `prior.log_sd` (latency_pool); False: off
        self.spread_prior_pool = spread_prior_pool
        # which models' estimates alone set them aside, and the calls bought to check them
        # (latency_explore; the router applies it); None: off
        self.explore = explore
        # a model fitted from its streams: whether the prior's distance from its calls' level
        # widens its spread (`blend`) or only the prior's spread counts (`blend_spread`, as
        # the line's fit of totals does)
        self.stream_prior_distance = stream_prior_distance
        # a model read through its totals: its line's split of the level (TTFT against seconds
        # per token) shrunk toward its prior's split, worth this many calls; 0: off
        self.split_prior_calls = split_prior_calls
        self._own: dict[tuple[str, str], DecayedSums] = {}
        self._others: dict[tuple[str, str], DecayedSums] = {}  # every other replica's rows, summed
        self._epochs: dict[str, float] = {}  # model -> its current epoch
        self._fits: dict[tuple[str, str], Estimate] = {}  # cached for predict (no math there)
        # each key's fit from its own sums alone (before latency_pool), cached likewise
        self._raw: dict[tuple[str, str], tuple[Estimate, bool, tuple[float, float] | None]] = {}
        # each key's calls' own level (log TTFT, log speed medians) without the prior, as the
        # last `_own_fit` read it: the typical model is the median of these, so no model's
        # prior (which may be the typical model) feeds back into it
        self._levels: dict[tuple[str, str], tuple[float, float]] = {}
        # latency_pool's targets per model, and the observations since they were computed
        self._targets: dict[str, tuple[float, float]] | None = None
        # the pool's typical model (the median level of the models with POOL_MIN_CALLS calls),
        # the prior of every model without its own `[latency.priors.M]` (`_prior_for`);
        # recomputed with the targets; None: fewer than TYPICAL_MIN_MODELS such models
        self._typical: LatencyPrior | None = None
        # per pooled model, the typical model's log TTFT and log speed without it (_set_typical)
        self._split_others: dict[str, tuple[float, float]] = {}
        self._pool_age = 0
        self._typical_age: int | None = None  # observations since `_typical`; None: never set
        self._dirty: set[tuple[str, str]] = set()  # own sums changed since the last rows()
        self._lock = threading.Lock()  # the sync thread swaps `_others`

    # -- observing ------------------------------------------------------------------------
    def observe(
        self,
        model: str,
        tenant: str,
        *,
        ttft_s: float | None = None,
        speed_tps: float | None = None,
        weight: float = 1.0,
    ) -> None:
        """One call's TTFT and/or speed, into the pooled and the tenant's estimate."""
        lt = math.log(max(ttft_s, _MIN_S)) if ttft_s is not None else None
        ls = math.log(max(speed_tps, 1e-3)) if speed_tps is not None else None
        self._add(
            model,
            tenant,
            (lt, lt * lt) if lt is not None else None,
            (ls, ls * ls) if ls is not None else None,
            weight,
        )

    def _add(
        self,
        model: str,
        tenant: str,
        ttft: Moments | None,
        speed: Moments | None,
        weight: float = 1.0,
        total: tuple[float, int] | None = None,
    ) -> None:
        """Expected log TTFT / log speed statistics into the pooled and the tenant's sums."""
        now = self._clock()
        with self._lock:
            self._pool_age += 1  # (latency_pool's targets: recomputed every REFRESH_CALLS)
            if self._typical_age is not None:
                self._typical_age += 1
            for key in ((ALL_TENANTS, model), (tenant, model)):
                s = self._own.get(key)
                if s is None:
                    s = self._own[key] = DecayedSums(now, self._epochs.get(model, 0.0))
                elif now - s.ref > _REBASE_HALF_LIVES * self.half_life:
                    s.rebase(now, self.half_life)
                w = weight * 2.0 ** ((now - s.ref) / self.half_life)
                s.calls += weight
                if s.early is not None and weight > 0:
                    s.early.append(EarlyCall(now, weight, ttft, speed, total))
                if ttft is not None:
                    s.tw += w
                    s.t1 += w * ttft[0]
                    s.t2 += w * ttft[1]
                if speed is not None:
                    s.sw += w
                    s.s1 += w * speed[0]
                    s.s2 += w * speed[1]
                if total is not None:
                    t, n = total
                    r = s.reg
                    r[0] += w
                    r[1] += w * n
                    r[2] += w * n * n
                    r[3] += w * t
                    r[4] += w * n * t
                    r[5] += w * t * t
                    n2 = n * n
                    r[6] += w * n2 * n
                    r[7] += w * n2 * n2
                    r[8] += w * t * n2
                    r[9] += w * t * n2 * n
                    r[10] += w * t * t * n2
                if s.early is not None and s.calls >= _CLIP_MIN_CALLS:
                    reclip(s, s.early, self.half_life, _EARLY_Z)
                    s.early = None  # from here on each call is clipped as it comes
                self._fits.pop(key, None)  # refit when next asked (_fit)
                self._raw.pop(key, None)
                self._dirty.add(key)
                if tenant == ALL_TENANTS:
                    break

    def observe_call(
        self,
        model: str,
        tenant: str,
        *,
        elapsed_s: float,
        tokens: int,
        ttft_s: float | None = None,
        failed: bool = False,
    ) -> None:
        """What one upstream call showed (see the module docstring for each case)."""
        if failed:
            fit = self._fit(tenant, model)
            if ttft_s is None:  # (after its first token, TTFT was learned when it came)
                moments = censored_moments(
                    math.log(max(elapsed_s, _MIN_S)), fit.ttft_mu, fit.ttft_var
                )
                if moments is not None:
                    self._add(model, tenant, moments, None)
            return
        fit = self._fit(tenant, model)
        known = fit.calls >= _CLIP_MIN_CALLS
        # the first calls are latency_early's (reclip); then a stall stays out of the sums: each
        # part's log residual from the fit, against the model's recent ones and the fit's p99.98
        out = self.outliers if known else None
        if ttft_s is not None:  # a stream: both parts are seen
            decode = elapsed_s - ttft_s
            speed = tokens / decode if tokens > 1 and decode > 0 else None
            if out is not None:
                lt, ttft_sd = math.log(max(ttft_s, _MIN_S)) - fit.ttft_mu, math.sqrt(fit.ttft_var)
                if out.outlier(model, "ttft", lt) and lt > _STALL_Z * ttft_sd:
                    ttft_s = None
                if speed is not None:
                    ls = fit.speed_mu - math.log(max(speed, 1e-3))
                    if out.outlier(model, "speed", ls) and ls > _STALL_Z * math.sqrt(fit.speed_var):
                        speed = None
            if known:  # each part within the model's own far tail (see _CLIP_Z)
                if ttft_s is not None:
                    ttft_s = min(ttft_s, math.exp(fit.ttft_mu + _CLIP_Z * math.sqrt(fit.ttft_var)))
                if speed is not None:
                    floor = math.exp(fit.speed_mu - _CLIP_Z * math.sqrt(fit.speed_var))
                    speed = max(speed, floor)
            if ttft_s is not None or speed is not None:
                self.observe(model, tenant, ttft_s=ttft_s, speed_tps=speed)
            return
        if tokens <= 1:  # (almost) no answer: the total is the TTFT
            lt = math.log(max(elapsed_s, _MIN_S)) - fit.ttft_mu
            stall = out is not None and out.outlier(model, "ttft", lt)
            if stall and lt > _STALL_Z * math.sqrt(fit.ttft_var):
                return
            if known:
                elapsed_s = min(
                    elapsed_s, math.exp(fit.ttft_mu + _CLIP_Z * math.sqrt(fit.ttft_var))
                )
            self.observe(model, tenant, ttft_s=elapsed_s)
            return
        if known:
            decode_mu = math.log(tokens) - fit.speed_mu
            mu, s2 = lognormal_sum_log_moments(fit.ttft_mu, fit.ttft_var, decode_mu, fit.speed_var)
            lt = math.log(max(elapsed_s, _MIN_S)) - mu
            stall = out is not None and out.outlier(model, "total", lt)
            if stall and lt > _STALL_Z * math.sqrt(s2):
                return
            elapsed_s = min(elapsed_s, math.exp(mu + _CLIP_Z * math.sqrt(s2)))
        self._add(model, tenant, None, None, total=(elapsed_s, tokens))

    # -- predicting -----------------------------------------------------------------------
    def _prior_for(self, model: str) -> LatencyPrior:
        """The model's own `[latency.priors.M]`, else the pool's typical model (its level, the
        configured spread) once the pool has one, else the configured `latency.prior_*`. Why the
        typical model: the configured default (2 s, 20 tokens/s) put a model without calls at
        p90 66.8 s for a 350-token answer (probe21), so every SLO under a minute set it aside
        until its probe ran, and (its level worth `prior_weight` calls) held its first calls
        slow; the models the pool has measured say more of an unknown one than a guess."""
        own = self.priors.get(model)
        if own is not None:
            return own
        return self._typical if self._typical is not None else self.prior

    def _calls(self, key: tuple[str, str]) -> float:
        own, oth = self._own.get(key), self._others.get(key)
        return (own.calls if own is not None else 0.0) + (oth.calls if oth is not None else 0.0)

    def _combined(self, key: tuple[str, str]) -> DecayedSums:
        """Own + others' sums of `key`, at own's reference time. Read only (the fit reads it):
        where one side alone has sums (one replica, or a key only others observed) it is that
        side's own object, not a copy: the copy was a third of the refit that every answered
        call costs (~2 of ~6 us), and adding it to zeros at factor 2^0 = 1 changed no bit."""
        own, oth = self._own.get(key), self._others.get(key)
        if oth is None and own is not None:
            return own
        if own is None and oth is not None:
            return oth
        ref = own.ref if own is not None else (oth.ref if oth is not None else 0.0)
        c = DecayedSums(ref)
        c.early = None
        for s in (own, oth):
            if s is None:
                continue
            f = 2.0 ** ((s.ref - ref) / self.half_life)
            c.calls += s.calls
            c.tw, c.t1, c.t2 = c.tw + s.tw * f, c.t1 + s.t1 * f, c.t2 + s.t2 * f
            c.sw, c.s1, c.s2 = c.sw + s.sw * f, c.s1 + s.s1 * f, c.s2 + s.s2 * f
            c.reg = [x + y * f for x, y in zip(c.reg, s.reg, strict=True)]
            c.legacy = c.legacy or s.legacy
        return c

    def _split_target(self, c: DecayedSums) -> tuple[float, float]:
        """(ratio, worth in calls) of the split a non-streaming fit is shrunk toward
        (latency_split): the model's own streams' when it has enough of them (each part seen
        directly: worth their count), else 1, one shared spread, worth SPLIT_PSEUDO calls."""
        if c.tw > 0 and c.sw > 0:
            streams = c.calls * min(c.tw, c.sw) / (c.reg[0] + max(c.tw, c.sw))
            if streams >= SPLIT_MIN_CALLS:
                vt = c.t2 / c.tw - (c.t1 / c.tw) ** 2
                vs = c.s2 / c.sw - (c.s1 / c.sw) ** 2
                return stream_ratio(vt, vs), max(streams, SPLIT_PSEUDO)
        return 1.0, SPLIT_PSEUDO

    def _refit(self, key: tuple[str, str]) -> Estimate:
        """Recompute and cache the fit of `key`: its own, its spread shrunk toward the other
        models' (latency_pool; from their own fits of the same sums, so replicas agree)."""
        own, line, _ = self._own_fit(key)
        fit = own
        pooled = self.spread_pool_calls > 0 and own.calls >= POOL_MIN_CALLS
        target = self._pool_targets().get(key[1]) if pooled or self.spread_prior_pool else None
        if target is not None:
            va, vb = own.ttft_var, own.speed_var
            k = 0.0 if self._epochs.get(key[1], 0.0) > 0 else self.prior_weight
            if self.spread_prior_pool and k > 0 and own.calls > 0:
                # the speed part's prior spread, worth k calls (_own_fit), becomes the others'
                # median: a model's first calls are no longer widened by the spread of a model
                # never seen (0.6 in log: a speed read of 0.20 at 30 calls became 0.27). The
                # TTFT part keeps the configured prior: replacing it too lost one SLO request
                # on 17 of 41 dev seeds (small's short math answers, read by their TTFT, whose
                # length the length model reads short: the wider prior had hidden that;
                # bench/results/latency_slo.md, nineteenth session)
                pv = self._prior_for(key[1]).log_sd ** 2
                vb = max(vb + k * (target[1] - pv) / (own.calls + k), 1e-4)
            if pooled:
                va, vb = shrink(va, vb, own.calls, target, self.spread_pool_calls)
            if (va, vb) != (own.ttft_var, own.speed_var):
                # a line's fit keeps its means (a, b) whatever its spread; streams their medians
                ta, tb = (
                    (own.ttft_mu + (own.ttft_var - va) / 2, own.speed_mu + (vb - own.speed_var) / 2)
                    if line
                    else (own.ttft_mu, own.speed_mu)
                )
                fit = Estimate(ta, va, tb, vb, own.calls)
        self._fits[key] = fit
        return fit

    def _pool_targets(self) -> dict[str, tuple[float, float]]:
        """Every model's target (latency_pool), recomputed after REFRESH_CALLS observations."""
        targets = self._targets
        if targets is None or self._pool_age >= POOL_REFRESH_CALLS:
            own = self._models_own()
            targets = self._targets = pool_targets(own)
            self._pool_age = 0
        return targets

    def _models_own(self) -> dict[str, tuple[float, float, float]]:
        """Per pooled model seen (both parts), its own (ttft_var, speed_var, calls)."""
        own: dict[str, tuple[float, float, float]] = {}
        for t, m in list(self._own) + list(self._others):
            if t == ALL_TENANTS and m not in own:
                fit, _, data = self._own_fit((ALL_TENANTS, m))
                if data is not None:
                    own[m] = (*data, fit.calls)
        return own

    def _refresh_typical(self) -> None:
        """The pool's typical model (`_prior_for`), recomputed after REFRESH_CALLS
        observations and after a sync, before any fit reads it (`_fit`): a fit cached on an
        older one is dropped (`_set_typical`), so replicas that synced the same rows agree."""
        if self._typical_age is None or self._typical_age >= POOL_REFRESH_CALLS:
            self._typical_age = 0  # (the fits it reads do not come back here)
            self._set_typical(self._models_own())

    def _set_typical(self, own: Mapping[str, tuple[float, float, float]]) -> None:
        """The pool's typical model from the models' own fits (`_pool_targets`' `own`: their
        calls): the median of the calls' own log TTFT and log speed (`_levels`, without the
        prior) of those with POOL_MIN_CALLS calls. A change drops the cached fits that read it
        (models without a prior of their own)."""
        pool = {
            m: self._levels[(ALL_TENANTS, m)]
            for m, o in own.items()
            if o[2] >= POOL_MIN_CALLS and (ALL_TENANTS, m) in self._levels
        }
        levels = list(pool.values())
        self._typical_age = 0
        typical = None
        if len(levels) >= TYPICAL_MIN_MODELS:
            # the median, not the slowest: on the replay's dev seeds the slowest cost 1.188x the
            # oracle (1.117 with the median; bench/results/latency_slo.md, lat21)
            ttft = statistics.median(lv[0] for lv in levels)
            speed = statistics.median(lv[1] for lv in levels)
            typical = LatencyPrior(math.exp(ttft) * 1000, math.exp(speed), self.prior.log_sd)
        # each pooled model's typical split without itself (`split_prior_calls`): with itself,
        # the pool's middle model (the replay's medium) was its own target, its misread kept
        others = (
            medians_without_each(pool, TYPICAL_MIN_MODELS) if self.split_prior_calls > 0 else {}
        )
        if typical == self._typical and others == self._split_others:
            return
        self._typical, self._split_others = typical, others
        for cache in (self._fits, self._raw):
            for k in [k for k in cache if k[1] not in self.priors]:
                del cache[k]

    def _split_prior(self, model: str) -> tuple[float, float] | None:
        """(log TTFT, log speed) whose split a young line-fitted model's is shrunk toward: its own
        `[latency.priors.M]`, else the pool's typical model without it, else none (the
        configured default prior is a guess, not a split seen)."""
        own = self.priors.get(model)
        if own is not None:
            return math.log(own.ttft_ms / 1000), math.log(own.tokens_per_s)
        if model in self._split_others:
            return self._split_others[model]
        t = self._typical
        return None if t is None else (math.log(t.ttft_ms / 1000), math.log(t.tokens_per_s))

    def _own_fit(self, key: tuple[str, str]) -> tuple[Estimate, bool, tuple[float, float] | None]:
        """The fit of `key` from its own sums (own + others' rows) alone, cached as `_fits`
        is; whether it is a line through totals (its means, not medians, are fixed); and its
        calls' own log variances without the prior (what other models' targets read: the
        prior's spread, and its distance from the calls' level, say nothing of how models
        spread; None when a part was not seen)."""
        cached = self._raw.get(key)
        if cached is not None:
            return cached
        model = key[1]
        p = self._prior_for(model)
        pv = p.log_sd * p.log_sd
        c = self._combined(key)
        calls, tw, t1, t2, sw, s1, s2 = c.calls, c.tw, c.t1, c.t2, c.sw, c.s1, c.s2
        reg = c.reg
        # after a restart (adopt) the adopted level is the prior: it came as observations
        k = 0.0 if self._epochs.get(model, 0.0) > 0 else self.prior_weight
        pt, ps = math.log(p.ttft_ms / 1000), math.log(p.tokens_per_s)
        if reg[0] > max(tw, sw):  # mostly non-streaming totals: the line through them
            # (its shape, when the lengths did not vary enough to fix it: the model's own
            # streams' means if it has any, else the prior's; failures alone teach TTFT only)
            tm, tv = blend(pt, pv, k, calls, tw, t1, t2) if sw > 0 else (pt, pv)
            sm, sv = blend(ps, pv, k, calls, sw, s1, s2)
            a, b = fit_line(reg, math.exp(tm + tv / 2), math.exp(sv / 2 - sm))
            ratio, pseudo = self._split_target(c)
            va, vb = log_vars(reg, a, b, calls, not c.legacy, ratio, pseudo)
            data: tuple[float, float] | None = (va, vb)
            # the calls' own log medians (also the typical model's: `_set_typical`)
            ma, mb = math.log(a) - va / 2, vb / 2 - math.log(b)
            self._levels[key] = (ma, mb)
            split = self._split_prior(model) if self.split_prior_calls > 0 and k > 0 else None
            if split is not None:
                # a young model's split of its level toward the pool's typical split, its total
                # kept (shrink_level_split); the calls' own level above stays as read (the
                # typical model is theirs)
                a2, b2 = shrink_level_split(
                    reg, a, b, math.exp(split[0]), math.exp(-split[1]), calls,
                    self.split_prior_calls,
                )  # fmt: skip
                if (a2, b2) != (a, b):
                    va, vb = log_vars(reg, a2, b2, calls, not c.legacy, ratio, pseudo)
                    ma, mb = math.log(a2) - va / 2, vb / 2 - math.log(b2)
            # the prior worth k calls in the level, as a stream-fitted model's is (`blend`), and
            # in spread its variance (and, where it pulls the model faster, their distance:
            # `blend_upper`), against the calls seen (not the decayed weight, whose scale is
            # each replica's own reference time: replicas then disagreed in the 6th digit).
            # Before, the line took the calls' level whole, so one 2 ms answer of a model told
            # 1,500 ms read p90 TTFT 3.4 ms (probe21)
            tm, tv = blend_upper(pt, pv, k, calls, ma, va, 1.0)
            sm, sv = blend_upper(ps, pv, k, calls, mb, vb, -1.0)
            out = Estimate(tm, tv, sm, sv, calls), True, data
        else:
            # the prior as a line-fitted model's (`blend_upper`: its distance widens the spread
            # only where it reads the model faster), not `blend`'s both sides: a model whose
            # prior is the pool's typical one read wider than the calls for being slower than
            # it, and one 2 ms stream of a model told 1,500 ms read p90 TTFT 11,989 ms (probe21)
            if self.stream_prior_distance:
                tm, tv = _upper(pt, pv, k, calls, tw, t1, t2, 1.0)
                sm, sv = _upper(ps, pv, k, calls, sw, s1, s2, -1.0)
            else:
                tm, tv = blend_spread(pt, pv, k, calls, tw, t1, t2)
                sm, sv = blend_spread(ps, pv, k, calls, sw, s1, s2)
            data = None
            if tw > 0 and sw > 0:
                data = (max(t2 / tw - (t1 / tw) ** 2, 0.0), max(s2 / sw - (s1 / sw) ** 2, 0.0))
                self._levels[key] = (t1 / tw, s1 / sw)
            out = Estimate(tm, tv, sm, sv, calls), False, data
        self._raw[key] = out
        return out

    def _fit(self, tenant: str, model: str) -> Estimate:
        """The tenant's own fit once it has `tenant_min_calls`, else the model's pooled one.
        Cached until the next observation or sync of that key (then refit here, once)."""
        self._refresh_typical()
        key = (tenant, model)
        fit = self._fits.get(key)
        if fit is None and tenant != ALL_TENANTS and self._calls(key) >= self.tenant_min_calls:
            fit = self._refit(key)
        if fit is not None and fit.calls >= self.tenant_min_calls:
            return fit
        key = (ALL_TENANTS, model)
        fit = self._fits.get(key)
        if fit is not None:
            return fit
        if key in self._own or key in self._others:
            return self._refit(key)
        p = self._prior_for(model)
        v = p.log_sd * p.log_sd
        return Estimate(math.log(p.ttft_ms / 1000), v, math.log(p.tokens_per_s), v, 0.0)

    def predict_ms(
        self,
        model: str,
        tenant: str,
        z: float,
        tokens_mu: float,
        tokens_var: float,
    ) -> tuple[float, float]:
        """(TTFT, total) in ms at standard score `z` (z = normal_quantile(quantile)), for an
        answer whose log token count is N(tokens_mu, tokens_var)."""
        f = self._fit(tenant, model)
        ttft = math.exp(f.ttft_mu + z * math.sqrt(f.ttft_var))
        total = lognormal_sum_quantile(
            f.ttft_mu, f.ttft_var, tokens_mu - f.speed_mu, tokens_var + f.speed_var, z
        )
        if self.coverage is not None:  # its realized coverage's margin (latency_coverage)
            total *= self.coverage.factor(model)
        return ttft * 1000.0, total * 1000.0

    def estimate(self, model: str, tenant: str = ALL_TENANTS) -> Estimate:
        return self._fit(tenant, model)

    def calls_level(self, model: str, tenant: str = ALL_TENANTS) -> tuple[float, float]:
        """(log TTFT, log speed) medians of the calls that `estimate` reads, without the
        prior's pull (what a change detector compares a call with); the estimate's own where
        the calls did not show both parts."""
        fit = self._fit(tenant, model)
        for key in ((tenant, model), (ALL_TENANTS, model)):
            if self._fits.get(key) is fit and key in self._levels:
                return self._levels[key]
        return fit.ttft_mu, fit.speed_mu

    # -- restarting (for a change-point detector) ---------------------------------------------
    def adopt(
        self,
        model: str,
        *,
        ttft_ms: float | None = None,
        tokens_per_s: float | None = None,
        weight: float = 3.0,
    ) -> None:
        """Forget the model's evidence (every tenant, every replica) and start again at the given
        level, which replaces the configured prior (it is worth `weight` calls; None keeps the
        current median of that part)."""
        cur = self._fit(ALL_TENANTS, model)
        ttft = ttft_ms / 1000 if ttft_ms is not None else math.exp(cur.ttft_mu)
        speed = tokens_per_s if tokens_per_s is not None else math.exp(cur.speed_mu)
        epoch = self._clock()
        with self._lock:
            self._start_epoch(model, epoch)
        if weight > 0:
            self.observe(model, ALL_TENANTS, ttft_s=ttft, speed_tps=speed, weight=weight)

    def _start_epoch(self, model: str, epoch: float) -> None:
        self._epochs[model] = epoch
        if self.outliers is not None:  # the old level's residuals say nothing of the new one
            self.outliers.forget(model)
        for sums in (self._own, self._others):
            for key in [k for k in sums if k[1] == model]:
                del sums[key]
        for key in [k for k in self._fits if k[1] == model]:
            del self._fits[key]
        for key in [k for k in self._raw if k[1] == model]:
            del self._raw[key]
        for key in [k for k in self._levels if k[1] == model]:
            del self._levels[key]
        self._targets = None
        self._typical_age = None

    # -- sharing --------------------------------------------------------------------------
    def rows(self, *, changed_only: bool = False) -> list[LatencyRow]:
        """This replica's sums, to be stored (its own row per key, replacing the stored one);
        `changed_only`: the keys observed since the last such call (`unsent` puts them back
        when the write failed)."""
        now = self._clock()
        with self._lock:
            keys = list(self._dirty) if changed_only else list(self._own)
            if changed_only:
                self._dirty.clear()
            return [self._row(k, self._own[k], now) for k in keys if k in self._own]

    def unsent(self, rows: Iterable[LatencyRow]) -> None:
        """Rows from `rows(changed_only=True)` that were not written: send them next time."""
        with self._lock:
            self._dirty.update((r.tenant, r.model) for r in rows)

    def _row(self, key: tuple[str, str], s: DecayedSums, now: float) -> LatencyRow:
        r = s.reg
        return LatencyRow(self.replica, key[0], key[1], s.epoch, s.ref, s.calls,
                          s.tw, s.t1, s.t2, s.sw, s.s1, s.s2, r[0], r[1], r[2], r[3], r[4], r[5],
                          now, r[6], r[7], r[8], r[9], r[10])  # fmt: skip

    def replace_others(self, rows: Iterable[LatencyRow]) -> None:
        """Adopt the store's rows of the other replicas (and any newer epoch they started)."""
        now = self._clock()
        fresh: dict[tuple[str, str], DecayedSums] = {}
        rows = [r for r in rows if r.replica != self.replica]
        with self._lock:
            for r in rows:
                if r.epoch > self._epochs.get(r.model, 0.0):
                    self._start_epoch(r.model, r.epoch)  # another replica restarted it
            for r in rows:
                if r.epoch < self._epochs.get(r.model, 0.0):
                    continue  # evidence from before the model's restart
                key = (r.tenant, r.model)
                s = fresh.get(key)
                if s is None:
                    s = fresh[key] = DecayedSums(now, r.epoch)
                s.add_row(r, self.half_life)
            self._others = fresh
            self._fits.clear()  # refit when next asked
            self._raw.clear()
            self._targets = None  # every replica that synced the same rows: the same targets
            self._typical_age = None  # (and the same typical model)

    def retune(
        self,
        *,
        half_life_s: float,
        prior: LatencyPrior,
        priors: Mapping[str, LatencyPrior],
        prior_weight: float,
        tenant_min_calls: float,
        spread_pool_calls: float,
        spread_prior_pool: bool,
        split_prior_calls: float,
    ) -> None:
        """A reload's `[latency]` numbers (latency_setup.retune): the sums stay, every fit is
        worked out afresh on the new ones when next asked. A new half-life decays from here on
        (the evidence already summed keeps the weight it has)."""
        with self._lock:
            self.half_life = half_life_s
            self.prior, self.priors = prior, dict(priors)
            self.prior_weight, self.tenant_min_calls = prior_weight, tenant_min_calls
            self.spread_pool_calls = spread_pool_calls
            self.spread_prior_pool = spread_prior_pool
            self.split_prior_calls = split_prior_calls
            self._fits.clear()
            self._raw.clear()
            self._targets = None
            self._typical_age = None

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per model (pooled): median TTFT ms, median tokens/s, their log sds, calls."""
        out: dict[str, dict[str, float]] = {}
        models = sorted({m for _, m in self._own} | {m for _, m in self._others})
        for model in models:
            f = self._fit(ALL_TENANTS, model)
            out[model] = {
                "ttft_p50_ms": round(math.exp(f.ttft_mu) * 1000, 3),
                "ttft_log_sd": round(math.sqrt(f.ttft_var), 4),
                "tokens_per_s_p50": round(math.exp(f.speed_mu), 3),
                "speed_log_sd": round(math.sqrt(f.speed_var), 4),
                "calls": round(f.calls, 2),
            }
        return out


def _upper(
    prior_mu: float,
    prior_var: float,
    k: float,
    calls: float,
    w: float,
    s1: float,
    s2: float,
    slow: float,
) -> tuple[float, float]:
    """`blend_upper` on a stream-fitted part's decayed sums (`blend`'s arguments)."""
    if w <= 0 or calls <= 0:
        return prior_mu, prior_var
    m = s1 / w
    return blend_upper(prior_mu, prior_var, k, calls, m, max(s2 / w - m * m, 0.0), slow)


def z_score(quantile: float) -> float:
    """The standard normal quantile; routing computes it once per router."""
    return normal_quantile(quantile)
