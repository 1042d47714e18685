"""The latency model a sidecar starts with, made from its `[latency]` settings (and routing's
quantile): priors, the pooled spread, the optional coverage, outlier and exploration parts; and
what a reload may change of it (`retune`: the numbers; the optional parts need a restart)."""

from __future__ import annotations

import uuid
from typing import Any

from arbiter.config import Settings
from arbiter.config_latency import LatencySettings
from arbiter.latency import LatencyModel, LatencyPrior
from arbiter.latency_coverage import CoverageTracker
from arbiter.latency_explore import LatencyExplore
from arbiter.latency_outliers import Outliers


def _numbers(lat: LatencySettings) -> dict[str, Any]:
    """The model's settings that are plain numbers and priors: what it starts with and what a
    reload may retune (one list, so the two cannot drift apart)."""
    return {
        "half_life_s": lat.half_life_s,
        "prior": LatencyPrior(lat.prior_ttft_ms, lat.prior_tokens_per_s, lat.prior_log_sd),
        "priors": {
            m: LatencyPrior(p.ttft_ms, p.tokens_per_s, lat.prior_log_sd)
            for m, p in lat.priors.items()
        },
        "prior_weight": lat.prior_weight,
        "tenant_min_calls": lat.tenant_min_calls,
        "spread_pool_calls": lat.spread_pool_calls,
        "spread_prior_pool": lat.spread_prior_pool,
        "split_prior_calls": lat.split_prior_calls,
    }


def make_latency_model(settings: Settings) -> LatencyModel:
    lat = settings.latency
    return LatencyModel(
        replica=uuid.uuid4().hex[:16],
        **_numbers(lat),
        coverage=CoverageTracker(settings.routing.latency_quantile, lat.coverage_step)
        if lat.coverage_step > 0
        else None,
        outliers=Outliers(z=lat.outlier_z) if lat.outlier_z > 0 else None,
        stream_prior_distance=lat.stream_prior_distance,
        explore=LatencyExplore(lat.explore_z) if lat.explore_z > 0 else None,
    )


# the [latency] keys a reload may change (config_reload.py); the rest (coverage_step, outlier_z,
# explore_z: parts made at start, with state of their own; length_near_prompts: the output
# length model's) need a restart
LIVE = frozenset({
    "half_life_s", "prior_ttft_ms", "prior_tokens_per_s", "prior_log_sd", "prior_weight",
    "tenant_min_calls", "spread_pool_calls", "spread_prior_pool", "split_prior_calls",
    "probe_unseen", "priors", "max_latency_ms", "max_ttft_ms",
})  # fmt: skip


def retune(model: LatencyModel, lat: LatencySettings) -> None:
    """A reloaded `[latency]`'s numbers into the running model (`probe_unseen` and the SLOs
    are read per request from the settings)."""
    model.retune(**_numbers(lat))
