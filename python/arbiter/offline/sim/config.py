"""sim.toml: the simulated pool's models and their quality/latency/price/failure profiles.

Parsing is strict (an unknown key is an error naming it); `default_pool()` is the built-in pool.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from arbiter import price
from arbiter.errors import ConfigError
from arbiter.offline.sim.latency_profile import LatencyProfile, parse_latency
from arbiter.offline.workload import TASKS
from arbiter.toml_depth import NestedTooDeeply, load_toml

ReportCost = Literal["none", "body", "header", "both"]
_REPORT_COST: tuple[ReportCost, ...] = ("none", "body", "header", "both")
WireProtocol = Literal["openai", "anthropic"]
# Anthropic's prompt-cache prices as multiples of the input price (5-minute cache writes).
CACHE_READ_FACTOR = 0.1
CACHE_WRITE_FACTOR = 1.25
_PROTOCOLS: tuple[WireProtocol, ...] = ("openai", "anthropic")


@dataclass(frozen=True, slots=True)
class Failures:
    """Per-request probabilities of each failure mode (and the knobs of the slow ones)."""

    error_5xx: float = 0.0
    error_429: float = 0.0
    timeout: float = 0.0  # hang for SimConfig.hang_s, then answer 504
    malformed: float = 0.0  # 200 whose body is not valid JSON or lacks choices
    stream_cut_after: int = 0  # a cut stream dies after this many content chunks
    stream_cut: float = 0.0
    stall: float = 0.0  # wait stall_ms before the first byte
    stall_ms: int = 5000
    trickle: float = 0.0  # one chunk every trickle_ms
    trickle_ms: int = 200
    malformed_chunk: float = 0.0  # one chunk mid-stream that is not valid JSON


@dataclass(frozen=True, slots=True)
class ModelProfile:
    name: str
    price_in_per_mtok: float = 1.0
    price_out_per_mtok: float = 2.0
    latency_ms: float = 20.0  # mean time to first byte
    latency_jitter_ms: float = 5.0
    ms_per_chunk: float = 2.0
    chars_per_chunk: int = 16
    report_cost: ReportCost = "none"
    reported_price_factor: float = 1.0
    judge: bool = False  # answers Arbiter's judge prompts with a score
    # a reasoning-style model refuses `max_tokens` (400, as OpenAI's o-series do); "any" takes both
    token_param: Literal["any", "max_completion_tokens"] = "any"
    quality: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(TASKS, 0.7))
    failures: Failures = field(default_factory=Failures)
    # The API it is served on: /v1/chat/completions (openai) or /v1/messages (anthropic).
    protocol: WireProtocol = "openai"
    down: bool = False  # run-time only (POST /_sim/control): every request gets 503
    # GET /v1/models: whether it is listed (false: hidden until a control patch lists it; it
    # still answers when called), its context window, and whether its prices are listed
    listed: bool = True
    context_window: int = 32000
    list_price: bool = True
    # TTFT / speed / load / stall draws (latency_profile.py); None: latency_ms + ms_per_chunk
    latency: LatencyProfile | None = None
    # a 400 to a request that sets both temperature and top_p, as Claude 4.5 models answer
    one_sampler: bool = False

    def cost_usd(
        self, prompt_tokens: int, completion_tokens: int, cache_read: int = 0, cache_write: int = 0
    ) -> float:
        """The true cost at registry prices. `prompt_tokens` counts all input; the parts read
        from / written to the prompt cache cost Anthropic's multiples of the input price."""
        pin = self.price_in_per_mtok
        return price.cost_usd(
            pin, self.price_out_per_mtok, prompt_tokens, completion_tokens,
            cache_read=cache_read, cache_read_price=pin * CACHE_READ_FACTOR,
            cache_write=cache_write, cache_write_price=pin * CACHE_WRITE_FACTOR,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 7
    models: Mapping[str, ModelProfile] = field(default_factory=dict)
    require_auth: bool = True
    hang_s: float = 30.0  # how long a `timeout` failure hangs before closing
    difficulty_effect: float = 0.3  # 0: quality ignores prompt difficulty
    outcome_table: str | None = None  # path of a recorded outcome table (.jsonl.gz)
    outcome_models: str | None = None  # its models file (ids and prices)
    # run-time changes applied when the pool has served `after_requests` requests in all:
    # [[schedule]] after_requests = 200, model = "x", listed = true (any POST /_sim/control keys)
    schedule: tuple[tuple[int, Mapping[str, Any]], ...] = ()
    latency_scale: float = 1.0  # multiplies every latency-profile time (0: no waiting at all)
    # a prompt sent to a model draws the same answer and latency every time (the request counter
    # is not mixed in), so a bench can recompute any call offline (simulate.offline_call)
    same_draws_per_prompt: bool = False
    # common random numbers: whether a prompt is answered well is one uniform draw per prompt
    # shared by every model (good where it is under the model's rate). Each model's rate is
    # unchanged; a stronger model answers well every prompt a weaker one does, so comparing two
    # models on the same prompts measures their difference, not which of them drew luckier
    paired_quality_draws: bool = False


_PROFILE_KEYS = frozenset(f.name for f in fields(ModelProfile)) - {"name", "down"}
_FAILURE_KEYS = frozenset(f.name for f in fields(Failures))
_TOP_KEYS = frozenset(f.name for f in fields(SimConfig))


def load_config(path: str | Path | None) -> SimConfig:
    """Read a sim.toml; None gives the built-in `default_pool()`."""
    if path is None:
        return default_pool()
    try:  # the main config's depth scan first: a deeply nested file is refused, not recursed
        raw = load_toml(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, NestedTooDeeply) as err:
        raise ConfigError(f"cannot read sim config {path}: {err}") from err
    return parse_config(raw, base_dir=Path(path).parent)


def parse_config(raw: Mapping[str, Any], base_dir: Path | None = None) -> SimConfig:
    _check_keys(raw, _TOP_KEYS, "")
    models_raw = raw.get("models", {})
    if not isinstance(models_raw, Mapping):
        raise ConfigError("models: expected a table of models")
    models = {name: parse_profile(name, spec) for name, spec in models_raw.items()}
    cfg = SimConfig(
        seed=_typed(raw, "seed", int, 7, ""),
        models=models,
        require_auth=_typed(raw, "require_auth", bool, True, ""),
        hang_s=_number(raw, "hang_s", 30.0, ""),
        difficulty_effect=_prob(raw, "difficulty_effect", 0.3, ""),
        outcome_table=_path(raw, "outcome_table", base_dir),
        outcome_models=_path(raw, "outcome_models", base_dir),
        schedule=_schedule(raw.get("schedule", [])),
        latency_scale=_number(raw, "latency_scale", 1.0, ""),
        same_draws_per_prompt=_typed(raw, "same_draws_per_prompt", bool, False, ""),
        paired_quality_draws=_typed(raw, "paired_quality_draws", bool, False, ""),
    )
    if (cfg.outcome_table is None) != (cfg.outcome_models is None):
        raise ConfigError("outcome_table and outcome_models must be given together")
    if not models and cfg.outcome_table is None:
        raise ConfigError("models: the pool needs at least one model (or an outcome_table)")
    return cfg


def parse_profile(name: str, spec: Any) -> ModelProfile:
    """One [models.NAME] table -> ModelProfile; `judge` defaults to True for a model named judge."""
    where = f"models.{name}."
    if not isinstance(spec, Mapping):
        raise ConfigError(f"models.{name}: expected a table")
    _check_keys(spec, _PROFILE_KEYS, where)
    quality_raw = spec.get("quality", {})
    if not isinstance(quality_raw, Mapping):
        raise ConfigError(f"{where}quality: expected a table of task = probability")
    _check_keys(quality_raw, frozenset(TASKS), f"{where}quality.")
    default_q = 1.0 if name == "judge" else 0.7
    quality: dict[str, float] = {
        t: _prob(quality_raw, t, default_q, f"{where}quality.") for t in TASKS
    }
    report = spec.get("report_cost", "none")
    if report not in _REPORT_COST:
        raise ConfigError(f"{where}report_cost: expected one of {', '.join(_REPORT_COST)}")
    protocol = spec.get("protocol", "openai")
    if protocol not in _PROTOCOLS:
        raise ConfigError(f"{where}protocol: expected one of {', '.join(_PROTOCOLS)}")
    return ModelProfile(
        name=name,
        price_in_per_mtok=_number(spec, "price_in_per_mtok", 1.0, where),
        price_out_per_mtok=_number(spec, "price_out_per_mtok", 2.0, where),
        latency_ms=_number(spec, "latency_ms", 20.0, where),
        latency_jitter_ms=_number(spec, "latency_jitter_ms", 5.0, where),
        ms_per_chunk=_number(spec, "ms_per_chunk", 2.0, where),
        chars_per_chunk=max(1, _typed(spec, "chars_per_chunk", int, 16, where)),
        report_cost=report,
        reported_price_factor=_number(spec, "reported_price_factor", 1.0, where),
        judge=_typed(spec, "judge", bool, name == "judge", where),
        token_param=_token_param(spec, where),
        quality=quality,
        failures=parse_failures(spec.get("failures", {}), f"{where}failures."),
        protocol=protocol,
        listed=_typed(spec, "listed", bool, True, where),
        context_window=max(1, _typed(spec, "context_window", int, 32000, where)),
        list_price=_typed(spec, "list_price", bool, True, where),
        latency=parse_latency(spec.get("latency"), f"{where}latency"),
        one_sampler=_typed(spec, "one_sampler", bool, False, where),
    )


def _schedule(raw: Any) -> tuple[tuple[int, Mapping[str, Any]], ...]:
    """[[schedule]] tables -> (after_requests, control patch), in order (patches are checked
    against the pool when the simulator starts: SimState)."""
    if not isinstance(raw, list) or not all(isinstance(e, Mapping) for e in raw):
        raise ConfigError("schedule: expected [[schedule]] tables")
    out = []
    for i, entry in enumerate(raw):
        after = entry.get("after_requests")
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise ConfigError(f"schedule[{i}].after_requests: expected a count >= 0")
        out.append((after, {k: v for k, v in entry.items() if k != "after_requests"}))
    return tuple(sorted(out, key=lambda e: e[0]))


def _token_param(spec: Mapping[str, Any], where: str) -> Literal["any", "max_completion_tokens"]:
    value = spec.get("token_param", "any")
    if value == "any" or value == "max_completion_tokens":
        return value  # type: ignore[no-any-return]
    raise ConfigError(f"{where}token_param: expected any or max_completion_tokens")


def parse_failures(raw: Any, where: str, base: Failures | None = None) -> Failures:
    """A failures table (or a run-time control patch over `base`) -> Failures."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where.rstrip('.')}: expected a table")
    _check_keys(raw, _FAILURE_KEYS, where)
    current = base or Failures()
    values: dict[str, Any] = {}
    for f in fields(Failures):
        if f.name not in raw:
            continue
        if f.name in ("stream_cut_after", "stall_ms", "trickle_ms"):
            values[f.name] = max(0, _typed(raw, f.name, int, 0, where))
        else:
            values[f.name] = _prob(raw, f.name, 0.0, where)
    return replace(current, **values)


def default_pool() -> SimConfig:
    """Four models cheap -> premium with rising quality and latency, plus a cheap, exact judge.
    Latency profiles are realistic (TTFT 250 ms .. 1.2 s, 200 .. 60 tokens/s, rare stalls) at a
    time scale of 0.05, so a call takes about what the old fixed delays took."""

    def q(code: float, math: float, extraction: float, open_ended: float) -> dict[str, float]:
        return {"code": code, "math": math, "extraction": extraction, "summarization": open_ended,
                "translation": open_ended, "creative": open_ended, "chat": open_ended}  # fmt: skip

    def lat(ttft_ms: float, tokens_per_s: float) -> LatencyProfile:
        return LatencyProfile(ttft_ms, 0.3, tokens_per_s, 0.2, 0.1, 0.005, 2000.0)

    models = (
        ModelProfile("sim-tiny", 0.10, 0.20, 15.0, 5.0, 1.0, quality=q(0.3, 0.35, 0.5, 0.6),
                     latency=lat(250, 200)),
        ModelProfile("sim-small", 0.50, 1.50, 25.0, 8.0, 1.5, quality=q(0.55, 0.6, 0.75, 0.8),
                     latency=lat(450, 130)),
        ModelProfile("sim-medium", 2.50, 10.0, 40.0, 10.0, 2.0, quality=q(0.8, 0.8, 0.9, 0.9),
                     latency=lat(800, 90)),
        ModelProfile("sim-premium", 15.0, 60.0, 60.0, 15.0, 3.0,
                     quality=q(0.95, 0.95, 0.97, 0.97), latency=lat(1200, 60)),
        ModelProfile("judge", 0.15, 0.60, 10.0, 2.0, 0.5, judge=True, quality=q(1, 1, 1, 1)),
    )  # fmt: skip
    return SimConfig(seed=7, models={m.name: m for m in models}, latency_scale=0.05)


# ---------------------------------------------------------------------------------------------


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigError(f"unknown key {where}{key} (expected one of: {known})")


def _typed(raw: Mapping[str, Any], key: str, kind: type[Any], default: Any, where: str) -> Any:
    value = raw.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}{key}: expected {kind.__name__}, got {value!r}")
    return value


def _number(raw: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}{key}: expected a non-negative number, got {value!r}")
    return float(value)


def _prob(raw: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = _number(raw, key, default, where)
    if value > 1.0:
        raise ConfigError(f"{where}{key}: expected a probability in [0, 1], got {value!r}")
    return value


def _path(raw: Mapping[str, Any], key: str, base_dir: Path | None) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a file path")
    path = Path(value)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(path)
