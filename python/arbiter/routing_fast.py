"""The arrays behind routing over large pools: per-pool masks and prices, per-(tenant, task)
posterior and slope arrays kept in step with the policy (packed for `_native.decide_rows`),
and bulk Gaussian draws for the best-value rule's cost draws.

`routing.Router.decide` reads these instead of walking every model in Python, so a decision over
1,000 eligible models costs a few vector operations and one native call. Every value here is
computed by the same arithmetic as the per-model path (`Router.decide_reference`), so both
choose identically for the same seed: the arrays are a cache, never a second model.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from arbiter import _native
from arbiter.image_rules import ImageRule, ImageSpec

if TYPE_CHECKING:
    from arbiter.routing import Router
    from arbiter.routing_types import PoolModel

# the leading arguments of `_native.decide_request` and `request_costs`: the pool's prices and
# answer-length table, the prompt's statistics, the pool regression's (mean, residual variance)
# there, prompt tokens, max_tokens, the default answer length
CostArgs = tuple[
    _native.Prices,
    _native.LengthTable | None,
    bytes | None,
    tuple[float, float],
    float,
    float | None,
    float,
]

_ALLOWED_CACHE = 256  # distinct allowed-model lists remembered per pool (one per key group)

# The capability of a model that keeps earlier turns' thinking blocks in its context (Anthropic's
# "thinking block preservation by model": Claude Opus 4.5 and later Opus, Sonnet 4.6 and later
# Sonnet); the others strip them, so only the current turn's thinking counts against them.
KEEPS_THINKING = "keeps-thinking"


class PoolIndex:
    """A pool in a fixed order: prices and context windows as arrays, one mask per capability."""

    def __init__(self, pool: Mapping[str, PoolModel]) -> None:
        self.source = pool  # the router's dict this index was built from (identity = freshness)
        self.models = list(pool.values())
        self.names = [m.name for m in self.models]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.price_in = np.array([m.price_in_per_mtok for m in self.models], dtype=np.float64)
        self.price_out = np.array([m.price_out_per_mtok for m in self.models], dtype=np.float64)
        # audio prices (unset: the text's) and fast multiples: a request billed apart
        # (routing_types.billed_units)
        self.audio_in = np.array(
            [m.price_in_per_mtok if m.price_audio_in_per_mtok is None
             else m.price_audio_in_per_mtok for m in self.models], dtype=np.float64,
        )  # fmt: skip
        self.audio_out = np.array(
            [m.price_out_per_mtok if m.price_audio_out_per_mtok is None
             else m.price_audio_out_per_mtok for m in self.models], dtype=np.float64,
        )  # fmt: skip
        self.fast = np.array([m.fast_factor for m in self.models], dtype=np.float64)
        # the native pass prices every model itself
        self.prices = _native.Prices(self.price_in.tolist(), self.price_out.tolist())
        self.context = np.array([m.context_window for m in self.models], dtype=np.int64)
        self.min_context = int(self.context.min()) if len(self.context) else 0
        caps = {c for m in self.models for c in m.capabilities}
        self.caps = {
            c: np.array([c in m.capabilities for m in self.models], dtype=bool) for c in caps
        }
        # how each model prices an image: the pool's distinct rules, and each model's among them
        rules: dict[ImageRule, int] = {}
        self.rule_of = np.array(
            [rules.setdefault(m.image_rule, len(rules)) for m in self.models], dtype=np.intp
        )
        self.image_rules = list(rules)
        self._allowed: dict[tuple[str, ...], np.ndarray] = {}
        # (allowed models, needed capabilities) -> their mask (None: every model)
        self._static: dict[tuple[tuple[str, ...] | None, frozenset[str]], np.ndarray | None] = {}

    def __len__(self) -> int:
        return len(self.names)

    def allowed_mask(self, allowed: Sequence[str]) -> np.ndarray:
        key = tuple(allowed)
        mask = self._allowed.get(key)
        if mask is None:
            mask = np.zeros(len(self.names), dtype=bool)
            for name in key:
                i = self.index.get(name)
                if i is not None:
                    mask[i] = True
            if len(self._allowed) >= _ALLOWED_CACHE:
                self._allowed.clear()
            self._allowed[key] = mask
        return mask

    def eligible(
        self,
        tokens: int,
        allowed: Sequence[str] | None,
        needs: frozenset[str],
        down: Sequence[int],
        kept_thinking: int = 0,
    ) -> np.ndarray | None:
        """The models that fit `tokens` of context (plus `kept_thinking` for those that keep
        earlier turns' thinking: routing.KEEPS_THINKING), are in `allowed` (None: any), have
        every capability in `needs` and are not `down`, as a mask; None when that is every model
        (the common case: no mask to build or apply)."""
        key = (None if allowed is None else tuple(allowed), needs)
        if key in self._static:
            static = self._static[key]
        else:
            static = None if allowed is None else self.allowed_mask(allowed)
            has = self.needs_mask(needs)
            if has is not None:
                static = has if static is None else static & has
            if static is not None and static.all():
                static = None
            if len(self._static) >= _ALLOWED_CACHE:
                self._static.clear()
            self._static[key] = static
        keeps = self.caps.get(KEEPS_THINKING) if kept_thinking else None
        fits = tokens + (kept_thinking if keeps is not None else 0) <= self.min_context
        if static is None and fits and not down:
            return None
        mask = np.ones(len(self.names), dtype=bool) if static is None else static.copy()
        if not fits:
            mask &= self.context >= tokens
            if keeps is not None:
                mask &= ~keeps | (self.context >= tokens + kept_thinking)
        if down:
            mask[list(down)] = False
        return mask

    def image_tokens(self, images: tuple[ImageSpec, ...]) -> int | np.ndarray:
        """Each model's tokens for `images`, by its rule (one count per distinct rule): an int
        when every model prices them alike, else an array in pool order."""
        totals = [rule.total(images) for rule in self.image_rules]
        if len(set(totals)) <= 1:
            return totals[0] if totals else 0
        return np.array(totals, dtype=np.int64)[self.rule_of]

    def fits(
        self, prompt: np.ndarray, max_tokens: int | None, kept_thinking: int
    ) -> np.ndarray | None:
        """Which models' context windows hold their own `prompt` (an array in pool order), the
        output limit, and earlier turns' thinking for those that keep it; None when every
        model's does (the common case: no mask)."""
        need = prompt + (max_tokens or 1) + kept_thinking
        if int(need.max()) <= self.min_context:
            return None
        keeps = self.caps.get(KEEPS_THINKING) if kept_thinking else None
        need = prompt + (max_tokens or 1)
        if keeps is not None:
            need = need + kept_thinking * keeps
        return np.asarray(self.context >= need)

    def needs_mask(self, needs: Iterable[str]) -> np.ndarray | None:
        mask = None
        for need in needs:
            has = self.caps.get(need)
            if has is None:
                return np.zeros(len(self.names), dtype=bool)
            mask = has if mask is None else mask & has
        return mask


class ArmTable:
    """One (tenant, task)'s posterior (alpha, beta) and slope (learned, else the prior's) per
    pool model; `has_slope` marks the learned ones (the others take the task's center).

    Built from the router's own per-model functions and refreshed from the policy's change log:
    only the models whose evidence moved since the last decision are recomputed."""

    def __init__(self, router: Router, pool: PoolIndex, tenant: str, task: str) -> None:
        n = len(pool)
        self.alpha = np.empty(n)
        self.beta = np.empty(n)
        self.has_slope = np.zeros(n, dtype=bool)
        self.slope_mean = np.zeros(n)
        self.slope_precision = np.ones(n)
        self.slope_center = np.zeros(n)
        self._key = (tenant, task)
        self._epoch = -1
        self._seen = 0
        self._packed: _native.PackedArms | None = None
        self.refresh(router, pool)

    @property
    def packed(self) -> _native.PackedArms:
        """These arrays as a native packed table, built once and then re-packed only in the
        rows a policy update moved, so a decision reads it as is."""
        if self._packed is None:
            self._packed = _native.PackedArms(
                self.alpha.tobytes(), self.beta.tobytes(),
                self.has_slope.astype(np.float64).tobytes(), self.slope_mean.tobytes(),
                self.slope_precision.tobytes(), self.slope_center.tobytes(),
            )  # fmt: skip
        return self._packed

    def refresh(self, router: Router, pool: PoolIndex) -> None:
        policy = router.policy
        epoch = policy.epoch
        log = policy.changes.get(self._key, ())
        if epoch != self._epoch or len(log) < self._seen:
            self._epoch, self._seen = epoch, len(log)
            self._packed = None
            for i in range(len(pool)):
                self._update(router, pool, i)
            return
        if len(log) == self._seen:
            return
        fresh = set(log[self._seen :])
        self._seen = len(log)
        for name in fresh:
            at = pool.index.get(name)
            if at is not None:
                self._update(router, pool, at)
                if self._packed is not None:  # the moved row only (a grade moves one arm)
                    self._packed.set(
                        at, float(self.alpha[at]), float(self.beta[at]),
                        bool(self.has_slope[at]), float(self.slope_mean[at]),
                        float(self.slope_precision[at]), float(self.slope_center[at]),
                    )  # fmt: skip

    def _update(self, router: Router, pool: PoolIndex, i: int) -> None:
        tenant, task = self._key
        m = pool.models[i]
        self.alpha[i], self.beta[i] = router.posterior(tenant, task, m)
        pm = router.prompt_model(tenant, task, m.name)
        self.has_slope[i] = pm is not None
        if pm is None:  # the prior's slope; its center is the task's, known per request
            pm = router._prior_prompt_model(m.name, 0.0)
        self.slope_mean[i], self.slope_precision[i] = pm.mean, pm.precision
        self.slope_center[i] = pm.center


def gauss_draws(rng: random.Random, n: int) -> np.ndarray:
    """The next `n` values of `rng.gauss(0, 1)`, drawn in bulk, leaving `rng` exactly where `n`
    calls would (the Mersenne Twister state and the cached second value of a pair)."""
    out = np.empty(n)
    if n <= 0:
        return out
    first = rng.gauss_next  # type: ignore[attr-defined]  # CPython's cached half of a pair
    rng.gauss_next = None  # type: ignore[attr-defined]
    start = 0
    if first is not None:
        out[0] = first
        start = 1
    pairs = (n - start + 1) // 2
    if pairs:
        words = rng.getrandbits(128 * pairs).to_bytes(16 * pairs, "little")
        values = np.frombuffer(_native.gauss_pairs(words), dtype="<f8")
        out[start:] = values[: n - start]
        if (n - start) % 2:  # an odd count leaves the pair's second value cached, as gauss does
            rng.gauss_next = float(values[-1])  # type: ignore[attr-defined]
    return out


def unavailable(
    pool: PoolIndex,
    is_available: Callable[[str], bool],
    suspects: Callable[[], Iterable[str]] | None,
) -> list[int]:
    """Pool indices whose circuit is not letting calls through: only the breaker's suspects
    are asked when it can name them, else every model."""
    names = pool.names if suspects is None else suspects()
    return [pool.index[n] for n in names if n in pool.index and not is_available(n)]
