"""The `[latency]` section's settings (the latency model, arbiter.latency, and per-task SLOs),
parsed by config.py with the rest of the file; here because its many tuned switches each carry
the measurement that set them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LatencyPriorSettings:
    ttft_ms: float
    tokens_per_s: float


@dataclass(frozen=True, slots=True)
class LatencySettings:
    """[latency]: the latency model (arbiter.latency) and per-task SLOs."""

    half_life_s: float = 900.0  # evidence older by this much counts half
    # an unknown model is assumed this slow until it has calls (conservative: it is tried only
    # by requests without an SLO, or when nothing known fits); per model in [latency.priors.M]
    prior_ttft_ms: float = 2000.0
    prior_tokens_per_s: float = 20.0
    prior_log_sd: float = 0.6
    prior_weight: float = 3.0  # calls the prior is worth
    # a model set aside under an SLO only by that prior (no call of it seen) gets one background
    # call (shadow.py: its spend on the shadow budget) to learn its speed: else a cheaper model
    # is never tried while every request has an SLO, and a pricier one answers for good
    probe_unseen: bool = True
    tenant_min_calls: float = 50.0  # a tenant's own estimate is used from this many calls
    # each answer with a prediction moves its model's margin on the predicted total by this
    # much in log (latency_coverage.py: keeps the realized coverage at the quantile); 0: off
    coverage_step: float = 0.0
    # an answered call beyond its model's recent median + this many robust sds (over its last
    # 64 calls) is a stall and stays out of the latency sums (latency_outliers.py); 0: off
    outlier_z: float = 3.0
    # each model's TTFT and speed log variances are shrunk toward the median of the other
    # models' own, worth this many calls against its own (latency_pool.py); 0: off. 30: a
    # model's warm-up (its first ~30 calls) is held halfway to the others' spread, a model with
    # hundreds of calls keeps its own (300, s14, lost SLO attainment on held-out seeds: it held
    # small's well-measured spread too; bench/results/latency_slo.md, nineteenth session)
    spread_pool_calls: float = 30.0
    # the prior's speed spread (`prior_log_sd`, worth `prior_weight` calls in each model's
    # speed log variance) is the median of the other models' own once two of them have 20
    # calls (latency_pool.py): a model's first dozens of calls are not widened by the spread
    # assumed of a model never seen (the TTFT part keeps `prior_log_sd`); false: off. On
    # since slo26, with split_prior_calls: the pair passes its seed-counting ship rule (alone
    # it does not: one seed fewer meets every goal in one arm; bench/results/latency_slo.md)
    spread_prior_pool: bool = True
    # a model read through its non-streaming totals: the line's split of its level into TTFT
    # and seconds per token is shrunk toward its prior's split (the pool's typical model, or
    # its own `[latency.priors.M]`), worth this many calls against its own, its total at its
    # calls' mean length kept (latency_math.shrink_level_split): a warm-up over few answer
    # lengths reads the split loosely (seed 277's medium); 0: off. 30 since slo26: it passes
    # the ship rule that counts seeds against issue 19's goals (bench/results/latency_slo.md)
    split_prior_calls: float = 30.0
    # a model fitted from its streams (TTFT and speed seen apart): true, the prior's level
    # worth `prior_weight` calls, and its distance from the calls' level widening the spread
    # where it reads the model faster, as a model fitted from its non-streaming totals is read
    # (latency_math.blend_upper); false: its calls' level, and the prior's spread alone worth
    # `prior_weight` calls (latency_math.blend_spread)
    stream_prior_distance: bool = True
    # an SLO request's answer length is corrected by, and its upper spread read from, its
    # task's answered prompts nearest to it in words, at most this many (length_task.near:
    # kinds of request within a task); 0: off (the default: on bench/latency_slo_replay.py's
    # dev seeds it cut cost but lost SLO attainment on some; bench/results/latency_slo.md)
    length_near_prompts: int = 0
    # a task's upper spread of answer length (for a latency quantile) is shrunk toward the
    # median of the other tasks' own (length_task.TaskResiduals.prior_var), not toward the
    # length regression's, which mixes every task's level; false: off
    length_task_prior_pool: bool = False
    # a model set aside under a total SLO, cheaper than the pick and over the quality bar,
    # whose prediction would fit were its latency fit this many standard errors faster, is
    # owed a call: a later SLO request that both it and the pick fit goes to it
    # (latency_explore.py: a cold start read slow is otherwise never corrected); 0: off (the
    # default: on bench/latency_slo_replay.py's dev seeds its calls cost more than the swaps
    # they won back, at z 1 and 2, with repeated or fresh draws; bench/results/latency_slo.md)
    explore_z: float = 0.0
    priors: dict[str, LatencyPriorSettings] = field(default_factory=dict)
    # per task: the SLO of a request that sets no header (and whose tenant sets none), in ms
    max_latency_ms: dict[str, float] = field(default_factory=dict)
    max_ttft_ms: dict[str, float] = field(default_factory=dict)
