"""The router's rule under a latency SLO (routing.py): given each eligible model's predicted
(TTFT, total) at the quantile, which model answers, and the reason's words for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from arbiter.routing_types import RouteRequest, RouterParams


class Choice(Protocol):
    """The bandit's pick and what it saw (the native pass's `Choice`, or the reference's)."""

    @property
    def index(self) -> int: ...
    @property
    def scores(self) -> Sequence[float]: ...
    @property
    def target(self) -> float: ...


def slo_choice(
    req: RouteRequest,
    names: list[str],
    choice: Choice,
    sampled_cost: list[float],
    predicted: list[tuple[float, float]],
    params: RouterParams,
) -> tuple[int, str, list[bool]]:
    """The model to use under the request's SLOs: the bandit's choice when it fits; else
    the same rule over the models that fit (cheapest over the bar, else the best score, or
    with `latency_late_good_ratio` the fastest over the bar: `late_good`; or best value); when
    none fits, the fastest of those over the bar (else of all). Returns
    (index, reason text, fits)."""
    total_slo, ttft_slo = req.max_latency_ms, req.max_ttft_ms
    fits = [
        (total_slo is None or tot <= total_slo) and (ttft_slo is None or ttft <= ttft_slo)
        for ttft, tot in predicted
    ]
    q = f"p{params.latency_quantile * 100:g}"
    asked = " and ".join(
        f"{what} <= {ms:g} ms"
        for what, ms in (("total", total_slo), ("first token", ttft_slo))
        if ms is not None
    )
    i = choice.index
    part = 1 if total_slo is not None else 0  # which prediction ranks "fastest"

    def said(j: int) -> str:
        ttft, tot = predicted[j]
        return f"{names[j]} {tot if part else ttft:.0f} ms"

    if fits[i]:
        return i, f"; latency {q}: {said(i)} fits {asked}", fits
    ok = [j for j, f in enumerate(fits) if f]
    scores, target = choice.scores, choice.target
    if not ok:
        # the fastest of those that clear the quality bar (a late answer is at least a good
        # one; a fast poor model is rarely much faster), else the fastest of all
        good = [k for k in range(len(names)) if scores[k] >= target] or range(len(names))
        j = min(good, key=lambda k: predicted[k][part])
        return j, f"; latency {q}: none fits {asked}, so the fastest: {said(j)}", fits
    if params.cost_weight > 0:
        w = params.cost_weight * 1000.0
        j = max(ok, key=lambda k: (scores[k] - w * sampled_cost[k], -sampled_cost[k]))
        how = "the best value of those that fit"
    else:
        clear = [k for k in ok if scores[k] >= target]
        slo = total_slo if part else ttft_slo
        if clear:
            j = min(clear, key=lambda k: sampled_cost[k])
            how = "the cheapest that fits and clears the bar"
        elif (late := late_good(scores, target, predicted, part, slo, params)) is not None:
            j = late
            how = "none that fits clears the bar: the fastest that clears it"
        else:
            j = max(ok, key=lambda k: scores[k])
            how = "none that fits clears the bar: the best-scoring that fits"
    text = f"; latency {q}: {said(i)} does not fit {asked}, so {said(j)}, {how}"
    return j, text, fits


def late_good(
    scores: Sequence[float],
    target: float,
    predicted: list[tuple[float, float]],
    part: int,
    slo: float | None,
    params: RouterParams,
) -> int | None:
    """With `latency_late_good_ratio` > 0, when models fit but none of them clears the bar: the
    fastest model over the bar (issue 19's rule and the benches' oracle: a late answer is at
    least a good one), if predicted within ratio x the SLO; else None (the best-scoring that
    fits)."""
    ratio = params.latency_late_good_ratio
    good = [k for k in range(len(scores)) if scores[k] >= target]
    if ratio <= 0 or not good or slo is None:
        return None
    j = min(good, key=lambda k: predicted[k][part])
    return j if predicted[j][part] <= ratio * slo else None
