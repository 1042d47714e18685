"""Static two-model routing curves on both axes, for a ranking of the prompts.

A static router sends the k top-ranked prompts to the strong model, for every k. Read on the call
axis (share of strong calls, RouteLLM's) and on the dollar axis (share of the all-strong cost),
the same ranking gives two curves. With a per-prompt quality gain g and extra cost c of the
strong call, ranking by g is what the call axis rewards and ranking by g / c (the knapsack order,
what the sidecar's best-value rule `score - cost_weight x cost` does as the weight is swept) is
what the dollar axis rewards; `knapsack_order`'s exponent spans the two. `sweep` charges a
cascade's cheap call on every prompt (`cascade=True`) or only where the prompt is not escalated
(a direct escalation that skips the cheap call: the bound on what predicting escalation before
the cheap call can save). Used by bench/routing_round3.py; pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arbiter.offline import outcome_table as ot
from arbiter.offline.routing_metrics import apgr, cpt
from arbiter.output_length import OutputLength, fit_prior


@dataclass(frozen=True, slots=True)
class Pair:
    """Per prompt: the strong and the cheap model's recorded quality and cost (USD)."""

    q_strong: np.ndarray
    q_weak: np.ndarray
    c_strong: np.ndarray
    c_weak: np.ndarray


def knapsack_order(gain: np.ndarray, extra_cost: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Prompt indices, first to escalate first: by gain / extra_cost**alpha (0 = by gain alone,
    1 = the knapsack ratio). Ties keep table order (a stable sort), so the result is deterministic.
    """
    c = np.maximum(np.asarray(extra_cost, dtype=np.float64), 1e-12)
    key = np.asarray(gain, dtype=np.float64) / c**alpha
    out: np.ndarray = np.argsort(-key, kind="stable")
    return out


def sweep(pair: Pair, order: np.ndarray, *, cascade: bool = False) -> dict[str, float | None]:
    """APGR and CPT(50%/80%) on both axes when the first k prompts of `order` go to the strong
    model, k = 0..n. `cascade`: the cheap call is paid on every prompt (it was asked first)."""
    n = len(order)
    qs, qw, cs, cw = pair.q_strong, pair.q_weak, pair.c_strong, pair.c_weak
    gap = float(qs.mean() - qw.mean())
    if n == 0 or gap == 0:
        raise ValueError("needs prompts and a quality gap between the two models")
    gain = np.concatenate([[0.0], np.cumsum(qs[order] - qw[order])]) / n / gap
    extra = cs[order] - (0.0 if cascade else cw[order])
    spent = (cw.sum() + np.concatenate([[0.0], np.cumsum(extra)])) / cs.sum()
    calls = [(k / n, float(gain[k])) for k in range(n + 1)]
    dollars = [(float(spent[k]), float(gain[k])) for k in range(n + 1)]

    def pct(points: list[tuple[float, float]], x: float) -> float | None:
        c = cpt(points, x)
        return None if c is None else round(100 * c, 2)

    return {
        "apgr": round(apgr(calls), 4),
        "cpt50": pct(calls, 0.5),
        "cpt80": pct(calls, 0.8),
        "apgr_cost": round(apgr(dollars), 4),
        "cpt50_cost_pct": pct(dollars, 0.5),
        "cpt80_cost_pct": pct(dollars, 0.8),
    }


def escalate_first(p_fail: np.ndarray, c_cheap: np.ndarray, c_strong: np.ndarray) -> np.ndarray:
    """The expected-cost rule: skip the cheap attempt (ask the strong model directly) where the
    cascade's expected cost, the cheap call plus P(it fails) x the strong call, exceeds the strong
    call alone; i.e. where P(fail) > 1 - c_cheap / c_strong. A boolean mask."""
    p = np.asarray(p_fail, dtype=np.float64)
    cc, cs = np.asarray(c_cheap, dtype=np.float64), np.asarray(c_strong, dtype=np.float64)
    out: np.ndarray = cc + p * cs > cs
    return out


def sweep_direct(pair: Pair, score: np.ndarray, direct: np.ndarray) -> dict[str, float]:
    """APGR / CPT80 on both axes of a cascade in which the `direct` prompts go to the strong model
    without the cheap call and the rest are asked cheap-first and escalated in order of `score`
    (highest first), k = 0..all; with the replay's two anchors (always cheap, always strong),
    so a curve that starts above zero strong calls is still read from c = 0. An unreached CPT80
    reads 100."""
    n = len(score)
    direct = np.asarray(direct, dtype=bool)
    rest = np.where(~direct)[0]
    order = rest[np.argsort(-np.asarray(score)[rest], kind="stable")]
    q0 = pair.q_strong[direct].sum() + pair.q_weak[~direct].sum()
    c0 = pair.c_strong[direct].sum() + pair.c_weak[~direct].sum()
    dq = np.r_[0.0, np.cumsum(pair.q_strong[order] - pair.q_weak[order])]
    dc = np.r_[0.0, np.cumsum(pair.c_strong[order])]
    qw = float(pair.q_weak.mean())
    gap = float(pair.q_strong.mean()) - qw
    if n == 0 or gap == 0:
        raise ValueError("needs prompts and a quality gap between the two models")
    total = float(pair.c_strong.sum())
    pgr = ((q0 + dq) / n - qw) / gap
    strong = (direct.sum() + np.arange(len(order) + 1)) / n
    calls = [(0.0, 0.0), *zip(strong.tolist(), pgr.tolist(), strict=True), (1.0, 1.0)]
    low = float(pair.c_weak.sum()) / total
    usd = ((c0 + dc) / total).tolist()
    dollars = [(low, 0.0), *zip(usd, pgr.tolist(), strict=True), (1.0, 1.0)]

    def pct(points: list[tuple[float, float]]) -> float:
        c = cpt(points, 0.8)
        return 100.0 if c is None else round(100 * c, 2)

    return {
        "apgr": round(apgr(calls), 4),
        "cpt80": pct(calls),
        "apgr_cost": round(apgr(dollars), 4),
        "cpt80_cost_pct": pct(dollars),
    }


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method on standardized columns; returns
    raw-scale (weights, bias). Deterministic."""
    mu = x.mean(0)
    sd = x.std(0)
    sd[sd < 1e-9] = 1.0
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    ridge = l2 * len(x) * np.r_[np.ones(z.shape[1] - 1), 0.0]
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + ridge * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(ridge + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    weights = w[:-1] / sd
    return weights, float(w[-1] - weights @ mu)


def gain_model(x: np.ndarray, pair: Pair, l2: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt P(good) models for both arms: ((weights strong, weights cheap), biases), so
    that g(x) = sigmoid(x @ W[:, 0] + b[0]) - sigmoid(x @ W[:, 1] + b[1])."""
    cols, biases = [], []
    for q in (pair.q_strong, pair.q_weak):
        w, b = fit_logistic(x, (q >= 0.5).astype(np.float64), l2)
        cols.append(w)
        biases.append(b)
    return np.stack(cols, 1), np.asarray(biases)


def predicted_gain(x: np.ndarray, model: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    w, b = model
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ w + b, -30, 30)))
    out: np.ndarray = p[:, 0] - p[:, 1]
    return out


def expected_cost(table: ot.Table, train: ot.Table, model: ot.ModelSpec) -> np.ndarray:
    """Prompt tokens x input price + the train-fitted expected answer length x output price."""
    stats = [r.stats for r in train.rows if r.stats is not None]
    tokens = [r.outcomes[model.id].completion_tokens for r in train.rows]
    lengths = OutputLength(350, {model.id: fit_prior(stats, tokens)})
    return np.asarray([
        model.cost_usd(r.prompt_tokens, lengths.expected(model.id, r.stats or b""))
        for r in table.rows
    ])  # fmt: skip
