"""Routing: which pool models may serve a request, and which one the bandit picks.

Pure decision logic shared by the sidecar and `arbiter replay`: no I/O, no clocks. Per arm, a Beta
posterior (prior + synced evidence) plus a per-prompt Bayesian logistic slope on the difficulty
score (`PromptModel`); the scoring kernel (Thompson sampling toward a quality target relative to
the baseline) is `_native.decide_request` over `routing_fast`'s arrays (`_native.choose`: the
per-model reference path, `Router.decide_reference`).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from arbiter import _native
from arbiter.errors import ContextTooLong, NoCapableModel, NoRouteAvailable, PolicyDenied
from arbiter.latency import LatencyModel, z_score
from arbiter.latency_explore import PENDING_MAX
from arbiter.output_length import OutputLength, token_log_moments
from arbiter.policy import Policy
from arbiter.records import Candidate
from arbiter.routing_fast import (
    ArmTable,
    CostArgs,
    PoolIndex,
    gauss_draws,
    unavailable,
)
from arbiter.routing_latency import slo_choice
from arbiter.routing_order import failover_order, visit_order
from arbiter.routing_types import (
    PoolModel,
    PromptModel,
    RouteDecision,
    RouteRequest,
    RouterParams,
    SlopeStep,
    billed_units,
    context_need,
)

# the words a challenger's `blocked` reason carries (shadow.py): the pool has a model for the
# request that only the operator's promotion would let `auto` route to
SHADOW_ONLY = "shadow traffic only until promoted"
# why a model a tenant may not use was left out (tenant_view.py hides those from its keys)
NOT_ALLOWED = "not allowed for this tenant"

# Past this many eligible (or excluded) models a decision records a summary, not every one
RECORD_ALL = 64
# the candidates a summarised decision keeps: the pick, the fallbacks, the baseline, then the
# first examined (cheapest first); more only when the fallbacks alone are more
RECORD_TOP = 18
MAX_TABLES = 20_000  # per router: (tenant, task) posterior arrays kept between decisions
# per router: models x tables; ~175 bytes per cell (the arrays and the packed table's 16 f64),
# so 1,000 models keep 250 tables, ~44 MB
MAX_TABLE_CELLS = 250_000


def _round4(values: np.ndarray) -> list[float]:
    """`[round(x, 4) for x in values]`, from `_native.round_floats` (None: Python rounds)."""
    out = _native.round_floats(values.tobytes(), 4)
    return [round(x, 4) if r is None else r for x, r in zip(values.tolist(), out, strict=True)]


_new_candidate = object.__new__
_CANDIDATE_FIELDS = ("model", "score", "mean", "est_cost_usd", "eligible", "why_not")
if tuple(f.name for f in fields(Candidate)) != _CANDIDATE_FIELDS:  # `_candidate` sets each
    raise TypeError("records.Candidate's fields changed: update routing._candidate")
_SET_CANDIDATE = tuple(getattr(Candidate, f).__set__ for f in _CANDIDATE_FIELDS)


def _candidate(model: str, score: float, mean: float, cost: float) -> Candidate:
    """`Candidate(model, score, mean, cost)` (eligible), through its slots: a frozen
    dataclass's `__init__` sets each field through `object.__setattr__`, twice the time, and a
    decision records up to 18 of them."""
    c: Candidate = _new_candidate(Candidate)
    set_model, set_score, set_mean, set_cost, set_eligible, set_why = _SET_CANDIDATE
    set_model(c, model)
    set_score(c, score)
    set_mean(c, mean)
    set_cost(c, cost)
    set_eligible(c, True)
    set_why(c, None)
    return c


def _namer(names: list[str], ok: np.ndarray | None) -> Callable[[int], str]:
    """The name of eligible position j (`ok`: the eligible pool rows; None: every row)."""
    if ok is None:
        return names.__getitem__
    return lambda j: names[ok[j]]


@dataclass(frozen=True, slots=True)
class _Picked:
    """The kernel's choice as `_latency_choice` reads it (fast path: from the packed arrays)."""

    index: int
    scores: list[float]
    target: float


class Router:
    """Chooses a model per request from the policy's evidence and per-prompt difficulty."""

    def __init__(
        self,
        pool: Sequence[PoolModel],
        params: RouterParams,
        policy: Policy | None = None,
        *,
        seed: int = 0,
        is_available: Callable[[str], bool] | None = None,
        lengths: OutputLength | None = None,
        latency: LatencyModel | None = None,
        suspects: Callable[[], Iterable[str]] | None = None,
        reopens_in: Callable[[Iterable[str]], float | None] | None = None,
    ) -> None:
        self.pool = {m.name: m for m in pool}
        # shared by a service's routers: how fast each model answers (None: SLOs are ignored)
        self.latency = latency
        self._z = z_score(params.latency_quantile)
        # shared by a service's routers: how long a model answers is not a tenant's business
        self.lengths = lengths or OutputLength(params.expected_output_tokens)
        self.params = params
        self.policy = policy if policy is not None else Policy()
        self._seed = seed
        self._counter = 0
        self._available = is_available or (lambda _name: True)
        # the only models `is_available` may say no to (a breaker's open circuits); None: ask
        # about every model. Without a custom check, none.
        self._suspects = suspects if is_available is not None else (lambda: ())
        # when the first of some models' open circuits lets a probe through (the breaker's)
        self._reopens_in = reopens_in or (lambda _models: None)
        self._index: PoolIndex | None = None  # `pool` as arrays, rebuilt when pool is replaced
        self._tables: dict[tuple[str, str], ArmTable] = {}
        # each arm's per-prompt model over the difficulty score lives in the shared policy
        # (learned online from grades, merged across routers and replicas); this is only where
        # a new arm's slope starts: the mean easiness of the task's prompts seen here
        self._rng = random.Random(seed)
        self._task_center: dict[tuple[str, str], tuple[float, float]] = {}  # (mean easiness, n)

    # -- deciding ---------------------------------------------------------------------------
    def eligible(
        self,
        req: RouteRequest,
        allowed: Sequence[str] | None = None,
        blocked: Mapping[str, str] | None = None,
    ) -> tuple[list[PoolModel], list[Candidate]]:
        """Models that may serve the request, and the excluded ones with the reason why;
        `blocked` names models the caller ruled out, with why (e.g. a feature their protocol
        cannot carry)."""
        ok: list[PoolModel] = []
        excluded: list[Candidate] = []
        for m in self.pool.values():
            why = None
            need = context_need(
                m.prompt_tokens_of(req), req.kept_thinking_tokens, req.max_tokens, m.capabilities
            )
            if allowed is not None and m.name not in allowed:
                why = NOT_ALLOWED
            elif need > m.context_window:
                why = f"context window {m.context_window} < {need} tokens"
            elif not req.needs <= m.capabilities:
                why = f"lacks {', '.join(sorted(req.needs - m.capabilities))}"
            elif not self._available(m.name):
                why = "circuit open"
            elif blocked and m.name in blocked:
                why = blocked[m.name]
            if why is None:
                ok.append(m)
            else:
                excluded.append(Candidate(m.name, 0.0, 0.0, self._est_cost(m, req), False, why))
        return ok, excluded

    def decide(
        self,
        req: RouteRequest,
        allowed: Sequence[str] | None = None,
        blocked: Mapping[str, str] | None = None,
    ) -> RouteDecision:
        """Choose a model for `req`: `decide_reference`'s decision, computed in one native pass
        over the pool's packed tables (each model's answer length and cost, then the draws
        cheapest first, stopped once the pick and the fallbacks are known) so that its cost
        barely grows with the pool. Up to RECORD_ALL eligible models every candidate is drawn
        and recorded as the reference does; past that, the chosen, the fallbacks, the baseline
        and the first examined (cheapest first), RECORD_TOP in all, and the excluded as counts
        per reason."""
        pool = self._pool_index()
        images = pool.image_tokens(req.images) if req.images else 0
        if req.images and isinstance(images, int):
            # priced alike by every model: part of the one prompt count (without images the
            # request is already that: no copy, which cost ~6 us of a routed request)
            req = replace(req, prompt_tokens=req.prompt_tokens + images, images=())
        p = self.params
        down = unavailable(pool, self._available, self._suspects)
        if blocked:
            down += [pool.index[n] for n in blocked if n in pool.index]
        mask = pool.eligible(
            req.prompt_tokens + (req.max_tokens or 1), allowed, req.needs, down,
            req.kept_thinking_tokens,
        )  # fmt: skip
        if not isinstance(images, int):  # each model's own images in its context check
            fits = pool.fits(req.prompt_tokens + images, req.max_tokens, req.kept_thinking_tokens)
            if fits is not None:
                mask = fits if mask is None else mask & fits
        ok = None if mask is None else mask.nonzero()[0]  # None: every model, in pool order
        n = len(pool) if ok is None else len(ok)
        if not n:
            return self.decide_reference(req, allowed, blocked)  # raises the precise error
        if req.easiness is not None:
            self._observe_easiness(req.tenant, req.task, req.easiness)
        table = self._table(pool, req.tenant, req.task)
        costs = self._cost_args(pool, req, None if isinstance(images, int) else images)
        rule_cost = None
        if req.stats is not None and p.cost_weight > 0:
            rule_cost = self._drawn_costs(pool, req, ok, costs).tobytes()
        center0 = 0.0
        if req.easiness is not None:
            center0 = self._task_center.get((req.tenant, req.task), (0.0, 0.0))[0]
        bi = pool.index.get(p.baseline, -1)
        baseline = -1
        if bi >= 0 and (mask is None or mask[bi]):
            baseline = bi if ok is None else int(ok.searchsorted(bi))
        seed = self._next_seed()
        slo = self.latency is not None and bool(req.max_latency_ms or req.max_ttft_ms)
        # the pick and the fallbacks; under an SLO the whole failover order (fits go first)
        k = n if slo else p.max_fallbacks + 1
        # one native pass: costs, then cheapest first shifts with their slope draws, Beta
        # draws, the rule, the first k of the failover order and (without an SLO) the
        # recorded rows, rounded
        index, why, target, ranked, facts, rec, full = _native.decide_request(
            *costs, table.packed, b"" if ok is None else ok.tobytes(), rule_cost, req.easiness,
            center0, baseline, p.quality_target, p.explore, seed, p.cost_weight * 1000.0, k,
            None if slo else (RECORD_ALL, RECORD_TOP), p.optimistic,
        )  # fmt: skip
        name = _namer(pool.names, ok)
        note, latency_ms, chosen = "", None, index
        if rec is None:  # under an SLO: the pass returned every score and cost
            assert full is not None
            names = [pool.names[i] for i in (range(n) if ok is None else ok.tolist())]
            rec, chosen, note, latency_ms = self._under_slo(
                req, names, index, target, baseline, ranked, full, rule_cost
            )
        cands = tuple(_candidate(name(i), s, mu, c) for i, s, mu, c in zip(*rec, strict=True))
        best = (name(i) for i in ranked if i != chosen)
        fallbacks = tuple(itertools.islice(best, p.max_fallbacks))
        excluded: tuple[Candidate, ...] = ()
        if mask is not None:
            excluded = self._excluded(pool, mask, req, allowed, blocked, costs)
        # the bandit's pick, as the reference says it (an SLO's note says what changed)
        score, _examined, cost, base_cost = facts
        base = name(baseline) if baseline >= 0 else None
        reason = self._reason_text(
            req.task, name(index), score, target, base, why, cost, base_cost,
            _visible(pool.index, allowed) - n,
        )  # fmt: skip
        probe = self._latency_probe(req, name(index)) if chosen != index else None
        return RouteDecision(name(chosen), fallbacks, cands + excluded, reason + note, target,
                             latency_ms, probe)  # fmt: skip

    def _latency_probe(self, req: RouteRequest, picked: str) -> str | None:
        """`picked` (the rule's choice, set aside under an SLO) when only its latency prior set
        it aside: no call of it seen yet, so a background call can teach its speed."""
        if self.latency is None or self.latency.estimate(picked, req.tenant).calls > 0:
            return None
        return picked

    def _cost_args(
        self, pool: PoolIndex, req: RouteRequest, images: np.ndarray | None = None
    ) -> CostArgs:
        """The leading arguments of `_native.decide_request` and `request_costs`: the pool's
        prices and answer-length table and the request's numbers. `images`: each model's
        tokens for the request's images, when the pool prices them apart: the native pass
        takes one prompt count, so each model's input price is then its whole prompt's
        (prompt x price, the product the per-model path computes) at a prompt of 1 token."""
        p = self.params
        lengths, moments = None, (0.0, 1.0)
        if req.stats is not None:
            lengths = self.lengths.table(pool.names)
            moments = self.lengths.pool_moments(req.stats)
        max_tokens = float(req.max_tokens) if req.max_tokens else None
        prices, prompt = pool.prices, float(req.prompt_tokens)
        if req.billed_apart:  # each model's audio prices and fast multiple (billed_units)
            each = req.prompt_tokens + (images if images is not None else 0.0)
            whole, unit = billed_units(
                pool.price_in, pool.price_out, pool.audio_in, pool.audio_out, pool.fast,
                req, np.asarray(each, dtype=np.float64),
            )  # fmt: skip
            prices, prompt = _native.Prices(whole.tolist(), unit.tolist()), 1.0
        elif images is not None:
            whole = (req.prompt_tokens + images).astype(np.float64) * pool.price_in
            prices, prompt = _native.Prices(whole.tolist(), pool.price_out.tolist()), 1.0
        return (
            prices, lengths, req.stats, moments, prompt, max_tokens,
            float(p.expected_output_tokens),
        )  # fmt: skip

    def _drawn_costs(
        self, pool: PoolIndex, req: RouteRequest, ok: np.ndarray | None, costs: CostArgs
    ) -> np.ndarray:
        """Best value: a Thompson draw of each eligible model's cost from the router's
        generator, in the reference's order (a zero draw: the mean)."""
        rows = np.arange(len(pool)) if ok is None else ok
        drawn = np.frombuffer(_native.request_costs(*costs, rows.astype(np.int64).tobytes()))
        drawn = drawn.copy()
        draws = gauss_draws(self._rng, len(rows))
        for j, i in enumerate(rows.tolist()):
            d = float(draws[j]) * self.params.explore
            if d:
                drawn[j] = self._est_cost(pool.models[i], req, d)
        return drawn

    def _under_slo(
        self,
        req: RouteRequest,
        names: list[str],
        index: int,
        target: float,
        baseline: int,
        ranked: list[int],
        full: tuple[bytes, bytes, bytes],
        rule_cost: bytes | None,
    ) -> tuple[
        tuple[list[int], list[float], list[float], list[float]],
        int,
        str,
        dict[str, tuple[float, float]],
    ]:
        """The reference's latency rule over the eligible models `names`, from every score
        and cost of the pass: the records, the chosen position, the reason's note and the
        predictions. Reorders `ranked` (the whole failover order) so that those that fit come
        first."""
        scores, means, cost = (np.frombuffer(b) for b in full)
        predicted = self._predict_latency(req, names)
        score_list = scores.tolist()
        picked = _Picked(index, score_list, target)
        ruled = (cost if rule_cost is None else np.frombuffer(rule_cost)).tolist()  # as the rule
        chosen, note, fits = slo_choice(req, names, picked, ruled, predicted, self.params)
        chosen, explored = self._explore(req, names, chosen, fits, score_list, target, ruled,
                                         predicted)  # fmt: skip
        note += explored
        ranked.sort(key=lambda i: not fits[i])  # fallbacks that fit first (stable)
        rows = list(range(len(names)))
        if len(names) > RECORD_ALL:  # the chosen, the fallbacks, the baseline, then that order
            kept = dict.fromkeys([chosen, *ranked[: self.params.max_fallbacks + 1]])
            kept.update(dict.fromkeys([baseline] if baseline >= 0 else []))
            for i in ranked:
                if len(kept) >= RECORD_TOP:
                    break
                kept[i] = None
            rows = sorted(kept)
        keep = np.array(rows, dtype=np.intp)
        rec = (rows, _round4(scores[keep]), _round4(means[keep]), cost[keep].tolist())
        return rec, chosen, note, dict(zip(names, predicted, strict=True))

    def _pool_index(self) -> PoolIndex:
        if self._index is None or self._index.source is not self.pool:
            self._index = PoolIndex(self.pool)
            self._tables.clear()
        return self._index

    def _table(self, pool: PoolIndex, tenant: str, task: str) -> ArmTable:
        table = self._tables.get((tenant, task))
        if table is None:
            # a bound on memory (~175 bytes per model per table): the oldest table goes, and is
            # rebuilt if its (tenant, task) comes back
            cap = min(MAX_TABLES, max(64, MAX_TABLE_CELLS // max(len(pool), 1)))
            while len(self._tables) >= cap:
                del self._tables[next(iter(self._tables))]
            table = self._tables[(tenant, task)] = ArmTable(self, pool, tenant, task)
        else:
            table.refresh(self, pool)
        return table

    def _excluded(
        self,
        pool: PoolIndex,
        mask: np.ndarray,
        req: RouteRequest,
        allowed: Sequence[str] | None,
        blocked: Mapping[str, str] | None,
        costs: CostArgs,
    ) -> tuple[Candidate, ...]:
        """The ineligible models with the reference's reasons (in pool order), or past
        RECORD_ALL one summary entry per kind of reason; `costs`: `_cost_args`."""
        out = np.flatnonzero(~mask)
        if not len(out):
            return ()
        if len(out) <= RECORD_ALL:
            allowed_set = set(allowed) if allowed is not None else None
            cost = np.frombuffer(_native.request_costs(*costs, out.astype(np.int64).tobytes()))
            return tuple(
                Candidate(
                    pool.names[i], 0.0, 0.0, c, False,
                    self._why_not(pool.models[i], req, allowed_set, blocked),
                )
                for i, c in zip(out.tolist(), cost.tolist(), strict=True)
            )  # fmt: skip
        kinds: dict[str, int] = {}
        for i in out.tolist():
            why = self._why_not(pool.models[i], req, None if allowed is None else set(), blocked)
            kind = why.split(" ", 2)[0] if why.startswith(("context", "lacks")) else why
            kinds[kind] = kinds.get(kind, 0) + 1
        return tuple(
            Candidate(f"({count} models)", 0.0, 0.0, 0.0, False, kind)
            for kind, count in kinds.items()
        )

    def _why_not(
        self,
        m: PoolModel,
        req: RouteRequest,
        allowed: set[str] | frozenset[str] | None,
        blocked: Mapping[str, str] | None,
    ) -> str:
        need = context_need(
            m.prompt_tokens_of(req), req.kept_thinking_tokens, req.max_tokens, m.capabilities
        )
        if allowed is not None and m.name not in allowed:
            return NOT_ALLOWED
        if need > m.context_window:
            return f"context window {m.context_window} < {need} tokens"
        if not req.needs <= m.capabilities:
            return f"lacks {', '.join(sorted(req.needs - m.capabilities))}"
        if not self._available(m.name):
            return "circuit open"
        if blocked and m.name in blocked:
            return blocked[m.name]
        return "ineligible"

    def decide_reference(
        self,
        req: RouteRequest,
        allowed: Sequence[str] | None = None,
        blocked: Mapping[str, str] | None = None,
    ) -> RouteDecision:
        """The per-model decision `decide` computes over arrays: same inputs, same state and
        seed give the same choice (kept as the specification the fast path is tested against,
        and for the errors when nothing is eligible)."""
        ok, excluded = self.eligible(req, allowed, blocked)
        if not ok:
            reasons = "; ".join(f"{c.model}: {c.why_not}" for c in excluded)
            if excluded and all((c.why_not or "").startswith("context") for c in excluded):
                raise ContextTooLong(f"The request does not fit any model's context: {reasons}")
            if allowed is not None and all(c.why_not == NOT_ALLOWED for c in excluded):
                raise PolicyDenied("No model in the pool is allowed for this tenant.")
            if any(SHADOW_ONLY in (c.why_not or "") for c in excluded):
                # a model could serve it but is a challenger the operator has not promoted: no
                # routable model is the operator's problem, not the client's
                raise NoRouteAvailable(
                    "No routable model can serve this request: every model that could is a "
                    f"shadow challenger not yet promoted ({reasons})."
                )
            if not any(c.why_not == "circuit open" for c in excluded):
                # nothing is down: the request asks for what no model has (a retry cannot help)
                raise NoCapableModel(f"No model in the pool can serve this request ({reasons}).")
            down = [c.model for c in excluded if c.why_not == "circuit open"]
            raise NoRouteAvailable(
                f"No eligible model can serve this request ({reasons}).",
                retry_after_s=self._reopens_in(down),
            )
        p = self.params
        if req.easiness is not None:
            self._observe_easiness(req.tenant, req.task, req.easiness)
        seed = self._next_seed()
        alpha, beta, cost, sampled_cost = [], [], [], []
        for m in ok:
            a, b = self.posterior(req.tenant, req.task, m)
            alpha.append(a)
            beta.append(b)
            cost.append(self._est_cost(m, req))
            # best value: the decision sees a Thompson draw of the cost, records its mean (under
            # the quality-target rule cost only orders the models that clear the bar)
            explore_cost = req.stats is not None and p.cost_weight > 0
            draw = self._rng.gauss(0.0, 1.0) * p.explore if explore_cost else 0.0
            sampled_cost.append(self._est_cost(m, req, draw) if draw else cost[-1])
        names = [m.name for m in ok]
        baseline = names.index(p.baseline) if p.baseline in names else -1
        # the draws are taken cheapest first (the baseline first), as decide's pass visits:
        # the t-th visited model gets the t-th Beta draw and the t-th slope normal
        visits = visit_order(sampled_cost, baseline)
        noise = [0.0] * len(ok)
        if req.easiness is not None and p.explore > 0:
            drawn = np.frombuffer(_native.slope_noise(seed, len(ok))).tolist()
            for t, i in enumerate(visits):
                noise[i] = drawn[t]
        shift = [self._shift(req, m.name, p.explore, z) for m, z in zip(ok, noise, strict=True)]
        choice = _native.choose(
            alpha, beta, sampled_cost, shift, baseline, p.quality_target, p.explore, seed,
            p.cost_weight * 1000.0, visits, p.optimistic,
        )  # fmt: skip
        cands = tuple(
            Candidate(n, round(s, 4), round(mu, 4), c)
            for n, s, mu, c in zip(names, choice.scores, choice.means, cost, strict=True)
        )
        index = choice.index
        order = failover_order(choice.scores, sampled_cost, choice.target, p.cost_weight * 1000.0)
        # the models the tenant may not use are no count of its reason (nor its candidates)
        hidden = sum(c.why_not == NOT_ALLOWED for c in excluded)
        reason = self._explain(req, names, choice, cost, baseline, len(excluded) - hidden)
        predicted = probe = None
        if self.latency is not None and (req.max_latency_ms or req.max_ttft_ms):
            predicted = self._predict_latency(req, names)
            index, note, fits = slo_choice(req, names, choice, sampled_cost, predicted, self.params)
            index, explored = self._explore(req, names, index, fits, choice.scores,
                                            choice.target, sampled_cost, predicted)  # fmt: skip
            reason += note + explored
            if index != choice.index:
                probe = self._latency_probe(req, names[choice.index])
            order.sort(key=lambda i: not fits[i])  # fallbacks that fit first (a stable sort)
        fallbacks = tuple(names[i] for i in order if i != index)[: p.max_fallbacks]
        return RouteDecision(
            names[index],
            fallbacks,
            cands + tuple(excluded),
            reason,
            choice.target,
            dict(zip(names, predicted, strict=True)) if predicted is not None else None,
            probe,
        )

    # -- latency --------------------------------------------------------------------------------
    def predicted_total_ms(self, model: str, tenant: str, max_tokens: int) -> float | None:
        """`model`'s total ms at the latency quantile for a reply of at most `max_tokens` (a
        call outside the routed ones: the cascade's judge), None without a latency model."""
        if self.latency is None:
            return None
        return self.latency.predict_ms(model, tenant, self._z, math.log(max_tokens), 0.0)[1]

    def _predict_latency(self, req: RouteRequest, names: list[str]) -> list[tuple[float, float]]:
        """Each model's (TTFT, total) ms at the quantile, for this request's expected answer."""
        assert self.latency is not None
        out = []
        for name in names:
            mu, var = self._answer_log_moments(req, name)
            out.append(self.latency.predict_ms(name, req.tenant, self._z, mu, var))
        return out

    def _answer_log_moments(self, req: RouteRequest, name: str) -> tuple[float, float]:
        """The log token count's mean and variance of `name`'s answer to `req`, as the
        latency prediction reads it (max_tokens bounding its quantile)."""
        mu, var = math.log(self.params.expected_output_tokens), 1.0  # the weak length prior
        if req.stats is not None:  # (its scale is log(1 + tokens): to log tokens)
            moments = self.lengths.log_moments(name, req.stats, req.task, req.shape)
            mu, var = token_log_moments(*moments, self._z)
        cap = math.log(req.max_tokens) if req.max_tokens else math.inf
        if mu + self._z * math.sqrt(var) > cap:  # max_tokens bounds the answer's quantile too
            mu = min(mu, cap)
            var = min(var, max((cap - mu) / self._z, 0.1) ** 2) if self._z > 0 else var
        return mu, var

    def _explore(
        self,
        req: RouteRequest,
        names: list[str],
        index: int,
        fits: list[bool],
        scores: Sequence[float],
        target: float,
        cost: Sequence[float],
        predicted: list[tuple[float, float]],
    ) -> tuple[int, str]:
        """latency_explore's rule after the latency rule chose `index`: record a doubt for
        each cheaper model over the bar set aside only by its estimate's level, and answer a
        request that fits both with a model in doubt. Returns (index, the reason's note)."""
        ex = self.latency.explore if self.latency is not None else None
        slo = req.max_latency_ms
        if ex is None or not slo:
            return index, ""
        for j, name in enumerate(names):
            if fits[j] or scores[j] < target or cost[j] >= cost[index]:
                continue
            if ex.pending(name) >= PENDING_MAX:
                continue
            mu, _ = self._answer_log_moments(req, name)
            fit = self.latency.estimate(name, req.tenant)  # type: ignore[union-attr]
            if ex.optimistic_ms(fit, mu, predicted[j][1]) <= slo:
                ex.doubt(name)
        if not fits[index] or not ex.any_pending():
            return index, ""
        doubted = [
            j
            for j, name in enumerate(names)
            if j != index and fits[j] and scores[j] >= target and ex.pending(name) > 0
        ]
        if not doubted:
            return index, ""
        j = min(doubted, key=lambda k: cost[k])
        ex.take(names[j])
        return j, (
            f"; latency exploration: {names[j]} {predicted[j][1]:.0f} ms fits, and its speed "
            "is in doubt where it was set aside"
        )

    def posterior(self, tenant: str, task: str, m: PoolModel) -> tuple[float, float]:
        p = self.params
        prior = m.priors.get(task, p.default_prior)
        prior = min(max(prior, 0.01), 0.99)
        a, b, n = self.policy.evidence((tenant, task, m.name))
        scale = p.evidence_cap / n if n > p.evidence_cap else 1.0
        return prior * p.prior_strength + a * scale + 1e-3, (
            1 - prior
        ) * p.prior_strength + b * scale + 1e-3

    def _est_cost(self, m: PoolModel, req: RouteRequest, draw: float = 0.0) -> float:
        """Expected USD; `draw` is a Thompson draw of the output length (0 = its mean)."""
        if req.stats is None:
            out = float(self.params.expected_output_tokens)
        else:
            out = self.lengths.expected(m.name, req.stats, draw)
        if req.max_tokens:
            out = min(out, float(req.max_tokens))
        return m.estimate_usd(req, m.prompt_tokens_of(req), out)

    def _shift(self, req: RouteRequest, model: str, explore: float, z: float) -> float:
        """Per-prompt logit shift: the slope's posterior mean, plus a Thompson draw of its noise
        (`z`, a standard normal, scaled by the slope's spread at this prompt)."""
        e = req.easiness
        if e is None:
            return 0.0
        pm = self.prompt_model(req.tenant, req.task, model)
        if pm is None:
            pm = self._new_prompt_model(req.tenant, req.task, model)
        noise = z * pm.spread(e) if explore > 0 else 0.0
        return pm.shift(e) + explore * noise

    def _next_seed(self) -> int:
        """The next decision's seed for the native draws (Beta and slope streams)."""
        self._counter += 1
        return (self._seed * 0x9E3779B97F4A7C15 + self._counter) & 0xFFFFFFFFFFFFFFFF

    def _new_prompt_model(self, tenant: str, task: str, model: str) -> PromptModel:
        center = self._task_center.get((tenant, task), (0.0, 0.0))[0]
        return self._prior_prompt_model(model, center)

    def _prior_prompt_model(self, model: str, center: float) -> PromptModel:
        p = self.params
        mean0 = 0.0 if model == p.baseline else p.slope_prior_mean
        return PromptModel(mean0, 1.0 / p.slope_prior_var, center)

    def _observe_easiness(self, tenant: str, task: str, e: float) -> None:
        mean, n = self._task_center.get((tenant, task), (0.0, 0.0))
        n = min(n + 1.0, self.params.evidence_cap)
        self._task_center[(tenant, task)] = (mean + (e - mean) / n, n)

    def prompt_model(self, tenant: str, task: str, model: str) -> PromptModel | None:
        """The arm's per-prompt model: this router's prior plus the offsets every router and
        replica learned (None before its first graded prompt with a score)."""
        off = self.policy.slope((tenant, task, model))
        if off is None:
            return None
        pm = self._prior_prompt_model(model, off.center0)
        pm.mean = max(min(pm.mean + off.mean, 5.0), -5.0)
        pm.precision = min(max(pm.precision + off.precision, 1e-6), self.params.slope_precision_cap)
        pm.center += off.center
        pm.seen = max(off.seen, 0.0)
        return pm

    def _explain(
        self,
        req: RouteRequest,
        names: list[str],
        choice: _native.Choice,
        cost: list[float],
        baseline: int,
        n_excluded: int,
    ) -> str:
        i = choice.index
        return self._reason_text(
            req.task, names[i], choice.scores[i], choice.target,
            names[baseline] if baseline >= 0 else None, choice.reason, cost[i],
            cost[baseline] if baseline >= 0 and baseline != i else None, n_excluded,
        )  # fmt: skip

    def _reason_text(
        self,
        task: str,
        name: str,
        score: float,
        target: float,
        base: str | None,
        why: str,
        cost: float,
        base_cost: float | None,
        n_excluded: int,
    ) -> str:
        """Why the bandit picked `name` (scoring `score` against `target`, the bar set by
        `base`; `base_cost` when the baseline is another model)."""
        text = (
            f"{task}: {name} scored {score:.3f} against a bar of "
            f"{target:.3f} ({self.params.quality_target:.0%} of {base or 'the best candidate'}); "
        )
        if why == "cheapest_meeting_target":
            text += "the cheapest that clears it"
        elif why == "only_candidate":
            text += "the only eligible model"
        elif why == "best_value":
            text += f"best value at {self.params.cost_weight:g} quality per $ per 1k requests"
        else:
            text += "none cleared the bar, so the highest-scoring model"
        text += f", est. ${cost:.6f}"
        if base_cost is not None:
            text += f" vs ${base_cost:.6f} on {base}"
        if n_excluded:
            text += f"; {n_excluded} model(s) ineligible"
        return text

    # -- learning ---------------------------------------------------------------------------
    def learn(
        self,
        tenant: str,
        task: str,
        model: str,
        reward: float,
        *,
        weight: float = 1.0,
        easiness: float | None = None,
    ) -> SlopeStep | None:
        """Fold one grade into the policy (weight -1 with the old reward retracts a grade's
        counts; unlearn_slope with the step returned here retracts its slope step)."""
        reward = min(max(reward, 0.0), 1.0)
        self.policy.add((tenant, task, model), weight * reward, weight * (1 - reward), weight)
        if easiness is None or weight <= 0 or model not in self.pool:
            return None
        # Bayesian logistic update of how much per-prompt easiness moves this model's odds
        a, b = self.posterior(tenant, task, self.pool[model])
        pm = self.prompt_model(tenant, task, model)
        if pm is None:
            pm = self._new_prompt_model(tenant, task, model)
        before = PromptModel(pm.mean, pm.precision, pm.center, pm.seen)
        pm.update(easiness, reward, math.log(a / b), weight, self.params.slope_precision_cap)
        step = SlopeStep(
            before.center,  # the slope's starting center, if it is new
            pm.mean - before.mean,
            pm.precision - before.precision,
            pm.center - before.center,
            pm.seen - before.seen,
        )
        self.policy.add_slope(  # the change, so replicas' updates add up
            (tenant, task, model), step.center0, step.mean, step.precision, step.center, step.seen
        )
        return step

    def unlearn_slope(self, tenant: str, task: str, model: str, step: SlopeStep) -> None:
        """Take back one grade's slope step (a stronger grade of the same answer replaces it).

        The logistic update is not additive, so retracting by a weight -1 update would not undo
        it; subtracting the very step it added does (exactly when no other grade of the arm
        landed in between, else close: the later steps were taken from a slightly different
        posterior). Without it an answer judged and then given feedback counted twice here."""
        self.policy.add_slope(
            (tenant, task, model), step.center0, -step.mean, -step.precision, -step.center,
            -step.seen,
        )  # fmt: skip


def _visible(index: Mapping[str, int], allowed: Sequence[str] | None) -> int:
    """How many of the pool's models the tenant may use: a decision's reason counts the
    ineligible among those only (the tenant is told nothing of the models it may not use,
    not even how many there are)."""
    if allowed is None:
        return len(index)
    return len({name for name in allowed if name in index})
