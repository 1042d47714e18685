"""What routing reads and returns: the pool's models, a request as routing sees it, a decision,
the router's parameters, and an arm's per-prompt slope model (routing.py decides with them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from arbiter import price
from arbiter.image_rules import DEFAULT_IMAGE_RULE, ImageRule, ImageSpec
from arbiter.price import Priced
from arbiter.records import Candidate
from arbiter.routing_fast import KEEPS_THINKING


@dataclass(frozen=True, slots=True)
class PoolModel(Priced):
    """What routing needs to know of a registry model."""

    name: str
    price_in_per_mtok: float
    price_out_per_mtok: float
    context_window: int
    capabilities: frozenset[str]
    priors: Mapping[str, float]
    # how the model prices an image (image_rules.py; the config's or the family default)
    image_rule: ImageRule = DEFAULT_IMAGE_RULE
    # its audio prices (None: the text's) and fast mode's multiple, as its calls are billed
    price_audio_in_per_mtok: float | None = None
    price_audio_out_per_mtok: float | None = None
    fast_factor: float = 2.0

    def prompt_tokens_of(self, req: RouteRequest) -> int:
        """The request's prompt on this model: its images at the model's own rule."""
        if not req.images:
            return req.prompt_tokens
        return req.prompt_tokens + self.image_rule.total(req.images)

    def estimate_usd(self, req: RouteRequest, prompt: float, output: float) -> float:
        """USD for `prompt` and `output` tokens of `req` as this model bills them (its audio
        and fast prices: `billed_units`), computed as the native pass does (bit for bit: the
        array path decides exactly as the reference)."""
        if not req.billed_apart:
            return self.cost_usd(prompt, output)
        audio_in, audio_out = self.price_audio_in_per_mtok, self.price_audio_out_per_mtok
        whole, unit = billed_units(
            self.price_in_per_mtok, self.price_out_per_mtok,
            self.price_in_per_mtok if audio_in is None else audio_in,
            self.price_out_per_mtok if audio_out is None else audio_out,
            self.fast_factor, req, prompt,
        )  # fmt: skip
        return price.cost_usd(float(whole), float(unit), 1.0, output)


def billed_units(
    price_in: Any,
    price_out: Any,
    audio_in: Any,
    audio_out: Any,
    fast: Any,
    req: RouteRequest,
    prompt: Any,
) -> tuple[Any, Any]:
    """(USD per 1M for the whole of `prompt`, per 1M output tokens) of `req` as a model bills
    it (ModelSettings.usage_cost's terms): its audio clips at the audio input price, every
    output token at the audio output price when spoken output is asked, all of it times the
    fast mode's multiple when asked. Scalars (a model) or arrays (the pool: routing's native
    pass, a prompt of 1 token): the same operations, so the same floats."""
    whole = prompt * price_in + np.minimum(req.audio_tokens, prompt) * (audio_in - price_in)
    unit = audio_out if req.spoken else price_out
    if req.fast:
        return whole * fast, unit * fast
    return whole, unit


def context_need(
    prompt_tokens: int, kept_thinking: int, max_tokens: int | None, capabilities: Iterable[str]
) -> int:
    """The tokens a model's context window must hold for a request: its prompt, its output
    limit, and for a model that keeps earlier turns' thinking (KEEPS_THINKING) that too."""
    kept = kept_thinking if kept_thinking and KEEPS_THINKING in capabilities else 0
    return prompt_tokens + kept + (max_tokens or 1)


@dataclass(frozen=True, slots=True)
class RouteRequest:
    tenant: str
    task: str
    prompt_tokens: int
    max_tokens: int | None
    needs: frozenset[str] = frozenset()  # capabilities the request needs: "tools", "json", "vision"
    easiness: float | None = None  # standardized difficulty-model score; + means easier
    stats: bytes | None = None  # difficulty.prompt_stats: predicts each model's answer length
    max_latency_ms: float | None = None  # the request's SLOs (pipeline.latency_slo), if any
    max_ttft_ms: float | None = None
    # earlier turns' thinking, not in prompt_tokens: only KEEPS_THINKING models hold it
    kept_thinking_tokens: int = 0
    # the images, not in prompt_tokens: each model prices them by its rule (PoolModel)
    images: tuple[ImageSpec, ...] = ()
    # the prompt's hashed words (difficulty.prompt_stats_and_shape), which tell the answer-
    # length model one kind of request from another within a task (length_task)
    shape: bytes | None = None
    # what a model bills apart (PoolModel.billed_usd): its audio clips' tokens (in
    # prompt_tokens too), spoken output asked, a fast mode asked
    audio_tokens: int = 0
    spoken: bool = False
    fast: bool = False

    @property
    def billed_apart(self) -> bool:
        """Some model may price this request other than at its text prices."""
        return self.fast or self.spoken or self.audio_tokens > 0


@dataclass(frozen=True, slots=True)
class RouteDecision:
    chosen: str
    # for failover, in order: the models the rule would pick next were the ones before them
    # down (the next cheapest that clear the bar; the next best values) - routing_order.py
    fallbacks: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    reason: str
    target: float
    # under a latency SLO: each eligible model's predicted (TTFT, total) ms at the quantile
    latency_ms: Mapping[str, tuple[float, float]] | None = None
    # the rule's choice, set aside only on its latency prior (no call of it seen yet): worth a
    # background call to learn its speed (shadow.py), else it is never tried under an SLO
    latency_probe: str | None = None


@dataclass(frozen=True, slots=True)
class RouterParams:
    baseline: str
    quality_target: float = 0.95
    explore: float = 1.0
    evidence_cap: float = 400.0
    prior_strength: float = 8.0
    default_prior: float = 0.7
    expected_output_tokens: int = 350  # the output-length prior; the cost estimate without stats
    # 0: the cheapest model meeting quality_target x baseline. > 0: the best value, score minus
    # cost_weight x (expected USD per 1,000 such requests); the knob is then the cost weight.
    cost_weight: float = 0.0
    max_fallbacks: int = 2
    # Per-prompt slope prior, in logit per unit of easiness. The score's meaning (+ = the cheap
    # end more likely suffices) says a non-baseline arm gains on easy prompts relative to the
    # baseline: its slope starts at `slope_prior_mean`, the baseline's at 0.
    # 1.0 / 0.25 chosen on the GSM8K+MMLU non-held-out rows (bench/results/routing.md)
    slope_prior_mean: float = 1.0
    slope_prior_var: float = 0.25
    slope_precision_cap: float = 400.0  # caps the slope's precision so it keeps adapting
    latency_quantile: float = 0.9  # a latency SLO is met at this quantile of the prediction
    # > 0: fits but none of those clears the bar -> the fastest over the bar, when predicted
    # within this many times the SLO (routing_latency.slo_choice); 0: the best-scoring that fits
    latency_late_good_ratio: float = 0.0
    # under the quality-target rule, a non-baseline arm's Thompson score is never below its
    # mean: a draw explores down (a cheaper arm that may clear the bar), never pays for a
    # pricier arm because the cheaper one's draw dipped although its mean clears the bar
    # (rust/core/src/bandit.rs `Policy::optimistic`)
    optimistic: bool = True


@dataclass(slots=True)
class PromptModel:
    """One arm's per-prompt model: logit P(good | e) = logit(arm mean) + slope * (e - center).

    `slope` has a Gaussian posterior N(mean, 1/precision), updated online by one Newton step per
    grade (the Laplace approximation of Bayesian logistic regression, as in Chapelle & Li 2011).
    `center` is the mean easiness of the prompts graded on this arm, so the Beta posterior's mean
    (which reflects the prompts this arm was given) is the model's value at the arm's own center.
    """

    mean: float
    precision: float
    center: float = 0.0
    seen: float = 0.0

    def shift(self, e: float) -> float:
        return self.mean * (e - self.center)

    def spread(self, e: float) -> float:
        """Posterior standard deviation of the logit shift at easiness `e`."""
        return abs(e - self.center) / math.sqrt(self.precision)

    def update(self, e: float, reward: float, offset: float, weight: float, cap: float) -> None:
        self.seen = max(self.seen + weight, 0.0)  # the initial center counts as one observation
        self.center += weight * (e - self.center) / min(self.seen + 1.0, 400.0)
        x = e - self.center
        z = max(min(offset + self.mean * x, 30.0), -30.0)
        p = 1.0 / (1.0 + math.exp(-z))
        h = weight * p * (1.0 - p) * x * x
        self.precision = min(max(self.precision + h, 1e-6), cap)
        self.mean += weight * (reward - p) * x / self.precision
        self.mean = max(min(self.mean, 5.0), -5.0)


@dataclass(frozen=True, slots=True)
class SlopeStep:
    """What one grade added to an arm's per-prompt slope offsets (Router.learn's return), kept
    so a later, stronger grade of the same answer can take it back (Router.unlearn_slope)."""

    center0: float
    mean: float
    precision: float
    center: float
    seen: float
