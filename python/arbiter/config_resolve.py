"""The config's second pass (config.loads calls `resolve`): the checks that read more than one
key, and the environment variables the file names (upstream API keys; admin, dashboard and
metrics keys). Kept apart from config.py, which holds the Settings types and the parse.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from arbiter.config_checks import (
    check_budgets,
    check_cache,
    check_latency,
    check_limits,
    check_media,
    check_prior_task,
    check_quality_target,
    check_range,
    check_routing,
    check_sandbox,
    check_shadow,
    check_store,
    check_tenant_names,
    image_spec,
)
from arbiter.config_limits import (
    MAX_BODY_LIMIT,
    MAX_CODE_MINUTES,
    MAX_MODEL_NAME_CHARS,
    MAX_MODEL_TOKENS,
    MAX_PRICE_PER_MTOK,
    MAX_SEARCH_USES,
    default_fast_factor,
    model_name_ok,
)
from arbiter.config_parse import _Locator
from arbiter.errors import ConfigError
from arbiter.host_check import allowed_hosts_problem
from arbiter.idle_poll import MAX_WINDOW_US
from arbiter.implied_capabilities import with_implied
from arbiter.prompt_ratio import CEILING
from arbiter.regular_file import read_regular

if TYPE_CHECKING:
    from arbiter.config import Settings


def resolve(
    s: Settings, env: Mapping[str, str], loc: _Locator, *, secrets: bool = True
) -> Settings:
    """Settings as parsed -> as used: every cross-key check (upstreams, models, the baseline,
    each section's ranges), secrets read from the environment, every problem reported on
    `loc`. `secrets=False`: no key is read (each stays None) and none is required, for the
    commands that only read or write the store (`export`, `keys`, `migrate`): an operator
    exporting decisions need not hold the upstreams' keys."""
    if not s.models:
        loc.fail(f"{loc.source}: no [models.*] defined: the pool is empty")
    upstreams = {}
    for name, up in s.upstreams.items():
        if not re.match(r"^https?://", up.base_url):
            loc.fail(f"{loc.where(['upstreams', name, 'base_url'])}: must be http(s)://")
        key = env.get(up.api_key_env) if up.api_key_env and secrets else None
        if up.api_key_env and not key and secrets:
            loc.fail(
                f"{loc.where(['upstreams', name, 'api_key_env'])}: environment variable "
                f"{up.api_key_env} is not set"
            )
        if up.api_key_file:
            where = loc.where(["upstreams", name, "api_key_file"])
            if up.api_key_env:
                loc.fail(f"{where}: set api_key_env or api_key_file, not both")
            if secrets:
                key = read_key_file(
                    up.api_key_file, f"{where}: upstreams.{name}.api_key_file", "API key", loc
                )
        if not 1024 <= up.max_event_bytes <= up.max_response_bytes <= 1024**3:
            loc.fail(
                f"{loc.where(['upstreams', name])}: need 1 KiB <= max_event_bytes <= "
                "max_response_bytes <= 1 GiB"
            )
        if not 1024 <= up.max_embeddings_response_bytes <= 1024**3:
            loc.fail(
                f"{loc.where(['upstreams', name, 'max_embeddings_response_bytes'])}: "
                f"upstreams.{name}.max_embeddings_response_bytes must be 1 KiB .. 1 GiB"
            )
        if not 1.0 <= up.discover_interval_s <= 86400.0:
            raise ConfigError(
                f"{loc.where(['upstreams', name, 'discover_interval_s'])}: "
                f"upstreams.{name}.discover_interval_s must be 1 .. 86400 s"
            )
        upstreams[name] = dataclasses.replace(up, base_url=up.base_url.rstrip("/"), api_key=key)
    models = {}
    for name, m in s.models.items():
        if name == "auto":  # the name clients send to be routed: a model of it is unreachable
            where = loc.where(["models", name])
            loc.fail(f"{where}: 'auto' is reserved (it asks Arbiter to route); rename the model")
        if not model_name_ok(name):
            loc.fail(
                f"{loc.where(['models', name])}: a model's name must be "
                f"1-{MAX_MODEL_NAME_CHARS} printable ASCII characters without spaces (answers "
                "name it in the x-arbiter-model header); give the upstream's own id as "
                "upstream_model"
            )
        if m.upstream not in upstreams:
            where = loc.where(["models", name])  # (only on a problem: finding it scans the file)
            loc.fail(f"{where}: upstream {m.upstream!r} is not defined in [upstreams]")
        if not (
            0 <= m.price_in_per_mtok <= MAX_PRICE_PER_MTOK
            and 0 <= m.price_out_per_mtok <= MAX_PRICE_PER_MTOK
            and 0 < m.context_window <= MAX_MODEL_TOKENS
            and 0 < m.max_output_tokens <= MAX_MODEL_TOKENS
            and all(
                p is None or 0 <= p <= MAX_PRICE_PER_MTOK
                for p in (
                    m.price_cache_read_per_mtok,
                    m.price_cache_write_per_mtok,
                    m.price_cache_write_1h_per_mtok,
                    m.price_audio_in_per_mtok,
                    m.price_audio_out_per_mtok,
                    m.price_long_in_per_mtok,
                    m.price_long_out_per_mtok,
                )
            )
            and 0 <= m.price_web_search_usd <= MAX_PRICE_PER_MTOK
            and 0 <= m.price_search_call_usd <= MAX_PRICE_PER_MTOK
            and 0 <= m.price_web_fetch_usd <= MAX_PRICE_PER_MTOK
            and 0 <= m.price_container_hour_usd <= MAX_PRICE_PER_MTOK
            and (m.price_fast_factor is None or 1 <= m.price_fast_factor <= 100)
            and (m.long_context_tokens is None or 0 < m.long_context_tokens <= MAX_MODEL_TOKENS)
        ):
            loc.fail(
                f"{loc.where(['models', name])}: prices must be in [0, {MAX_PRICE_PER_MTOK:g}] "
                f"and context_window, max_output_tokens in [1, {MAX_MODEL_TOKENS}]"
            )
        if not 0 <= m.web_search_uses <= MAX_SEARCH_USES:
            where = loc.where(["models", name, "web_search_uses"])
            loc.fail(f"{where}: models.{name}.web_search_uses must be in [0, {MAX_SEARCH_USES}]")
        if not 0 <= m.code_execution_minutes <= MAX_CODE_MINUTES:
            where = loc.where(["models", name, "code_execution_minutes"])
            loc.fail(
                f"{where}: models.{name}.code_execution_minutes must be in [0, {MAX_CODE_MINUTES}]"
            )
        if not 0 <= m.web_search_result_tokens <= MAX_MODEL_TOKENS:
            where = loc.where(["models", name, "web_search_result_tokens"])
            loc.fail(
                f"{where}: models.{name}.web_search_result_tokens must be in "
                f"[0, {MAX_MODEL_TOKENS}]"
            )
        if not 1.0 <= m.prompt_token_ratio <= CEILING:
            where = loc.where(["models", name, "prompt_token_ratio"])
            loc.fail(f"{where}: models.{name}.prompt_token_ratio must be in [1, {CEILING:g}]")
        for task, p in m.priors.items():
            if not 0.0 <= p <= 1.0:
                loc.fail(f"{loc.where(['models', name, 'priors', task])}: must be in [0,1]")
            check_prior_task(loc, ["models", name, "priors", task], task)
        spec = image_spec(loc, name, m, upstreams.get(m.upstream))
        served_by = upstreams.get(m.upstream)
        models[name] = dataclasses.replace(
            m,
            upstream_model=m.upstream_model or name,
            image_tokens=spec,
            price_fast_factor=m.price_fast_factor
            or default_fast_factor(served_by.protocol if served_by else "openai"),
            capabilities=with_implied(
                m.capabilities,
                served_by.protocol if served_by else "openai",
                m.upstream_model or name,
            ),
        )
    r = s.routing
    dearest = max(models.values(), key=lambda m: m.price_out_per_mtok, default=None)
    baseline = r.baseline or (dearest.name if dearest else "")
    if baseline not in models and models:
        loc.fail(f"{loc.where(['routing', 'baseline'])}: unknown model {baseline!r}")
    if r.judge_model is not None and r.judge_model not in models:
        loc.fail(f"{loc.where(['routing', 'judge_model'])}: unknown model {r.judge_model!r}")
    check_routing(loc, r, models)
    check_latency(loc, s, models)
    st = s.store
    check_store(loc, st.url)
    if st.archive_dir and Path(st.archive_dir).exists() and not Path(st.archive_dir).is_dir():
        # retention writes its archive there before it deletes: it would fail every round and
        # delete nothing, with only a warning in the log
        loc.fail(
            f"{loc.where(['store', 'archive_dir'])}: store.archive_dir {st.archive_dir!r} is "
            "not a folder"
        )
    if st.retention_days < 0 or st.timeseries_retention_days < 0:
        loc.fail(
            f"{loc.where(['store'])}: store.retention_days and store.timeseries_retention_days "
            "must be >= 0 (0 = keep forever)"
        )
    if st.prune_interval_s <= 0 or st.flush_interval_ms <= 0 or st.sync_interval_ms <= 0:
        loc.fail(
            f"{loc.where(['store'])}: store.prune_interval_s, flush_interval_ms and "
            "sync_interval_ms must be > 0"
        )
    if not 1024 <= s.server.max_body_bytes <= MAX_BODY_LIMIT:
        loc.fail(
            f"{loc.where(['server', 'max_body_bytes'])}: server.max_body_bytes must be "
            "1 KiB .. 32 MiB"
        )
    if not 1 <= s.server.max_messages <= 1_000_000:
        loc.fail(
            f"{loc.where(['server', 'max_messages'])}: server.max_messages must be 1 .. 1000000"
        )
    if not 1 << 20 <= s.server.max_answer_bytes_in_flight <= 1 << 40:
        loc.fail(
            f"{loc.where(['server', 'max_answer_bytes_in_flight'])}: "
            "server.max_answer_bytes_in_flight must be 1 MiB .. 1 TiB"
        )
    if not 16 <= s.server.max_connections <= 1_000_000:
        loc.fail(
            f"{loc.where(['server', 'max_connections'])}: server.max_connections must be "
            "16 .. 1000000"
        )
    if not 1 <= s.server.keep_alive_s <= 3600:
        loc.fail(
            f"{loc.where(['server', 'keep_alive_s'])}: server.keep_alive_s must be 1 .. 3600 s"
        )
    if not 1 <= s.server.workers <= 256:
        raise ConfigError(
            f"{loc.where(['server', 'workers'])}: server.workers must be 1 .. 256 processes"
        )
    if not 0.1 <= s.server.client_read_timeout_s <= 3600:
        loc.fail(
            f"{loc.where(['server', 'client_read_timeout_s'])}: server.client_read_timeout_s "
            "must be 0.1 .. 3600 s"
        )
    if hosts_problem := allowed_hosts_problem(s.server.allowed_hosts):
        loc.fail(f"{loc.where(['server', 'allowed_hosts'])}: server.allowed_hosts: {hosts_problem}")
    check_range(loc, ["server", "shutdown_grace_s"], s.server.shutdown_grace_s, 0.0, 3600.0)
    if not 0 <= s.server.idle_poll_us <= MAX_WINDOW_US:
        loc.fail(
            f"{loc.where(['server', 'idle_poll_us'])}: server.idle_poll_us must be "
            f"0 .. {MAX_WINDOW_US} microseconds"
        )
    check_range(
        loc, ["server", "client_write_timeout_s"], s.server.client_write_timeout_s, 0.1, 3600.0
    )
    admin_key = _auth_key(s.auth.admin_key_env, s.auth.admin_key_file, "admin", env, loc, secrets)
    dashboard_key = _auth_key(
        s.auth.dashboard_key_env, s.auth.dashboard_key_file, "dashboard", env, loc, secrets
    )
    metrics_key = _auth_key(
        s.auth.metrics_key_env, s.auth.metrics_key_file, "metrics", env, loc, secrets
    )
    _distinct_keys(loc, admin=admin_key, dashboard=dashboard_key, metrics=metrics_key)
    discovering = any(up.discover for up in upstreams.values())
    check_sandbox(loc, s.sandbox)
    check_tenant_names(loc, s)
    for name, t in s.tenants.items():
        # an allowed model may be one an upstream will list (discovery); a baseline must exist
        allowed = [] if discovering else (t.allowed_models or [])
        named = [*(("allowed_models", m) for m in allowed), ("baseline", t.baseline or "")]
        for key, model in named:
            if model and model not in models:  # the key's own line and name (a reload's 400)
                where = loc.where(["tenants", name, key])
                loc.fail(f"{where}: tenants.{name}.{key}: unknown model {model!r}")
        if t.quality_target is not None:  # as routing.quality_target's (TOML has nan and inf)
            check_quality_target(loc, ["tenants", name, "quality_target"], t.quality_target)
    check_budgets(loc, s.budgets)
    check_shadow(loc, s.shadow, models)
    b = s.budgets
    check_range(loc, ["budgets", "outage_allowance"], b.outage_allowance, 0.0, 1.0)
    check_range(loc, ["budgets", "lease_s"], b.lease_s, 1.0, 3600.0)
    # the lease is renewed by the policy sync: a few tries per lease, or a live process could
    # lose it between two syncs (only caps take a lease)
    if b.caps and b.lease_s < 3 * st.sync_interval_ms / 1000:
        loc.fail(
            f"{loc.where(['budgets', 'lease_s'])}: budgets.lease_s = {b.lease_s} must be at least "
            f"3 x store.sync_interval_ms ({3 * st.sync_interval_ms / 1000:g} s): the lease is "
            "renewed by the policy sync; raise lease_s or sync more often"
        )
    if (b.image_tokens is not None and b.image_tokens < 0) or b.default_max_output_tokens < 1:
        loc.fail(
            f"{loc.where(['budgets'])}: budgets.image_tokens must be >= 0 and "
            "budgets.default_max_output_tokens >= 1"
        )
    check_cache(loc, s.cache)
    check_media(loc, s.media)
    check_limits(loc, s)
    return dataclasses.replace(
        s,
        upstreams=types.MappingProxyType(upstreams),
        models=types.MappingProxyType(models),
        routing=dataclasses.replace(r, baseline=baseline),
        auth=dataclasses.replace(
            s.auth, admin_key=admin_key, dashboard_key=dashboard_key, metrics_key=metrics_key
        ),
    )


def _distinct_keys(loc: _Locator, **keys: str | None) -> None:
    """The operator's keys must differ: a presented key is read as the strongest it matches
    (admin, then dashboard; auth.authenticate), so a read-only dashboard key equal to the admin
    key was an admin key, and a scrape-only metrics key equal to either read every tenant's
    data. (Two of them naming one environment variable is the usual slip.)"""
    named = [(what, key) for what, key in keys.items() if key]
    for i, (what, key) in enumerate(named):
        for other, other_key in named[i + 1 :]:
            if hmac.compare_digest(key, other_key):
                loc.fail(
                    f"{loc.where(['auth'])}: the {other} key is the {what} key: whoever holds "
                    f"it has the {what} key's rights; give each its own key"
                )


def read_key_file(path: str, where: str, what: str, loc: _Locator) -> str | None:
    """A key kept in a file (`api_key_file`, `[auth] *_key_file`): its text, the spaces and
    newline around it dropped; read at start and by each reload (the rotation)."""
    try:
        raw = read_regular(path, 64 * 1024 + 1)  # a FIFO would block the reload for good
    except OSError as err:
        loc.fail(f"{where}: cannot read {path}: {err.strerror}")
        return None
    try:
        key = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        key = ""
    if len(raw) > 64 * 1024 or not key or not key.isprintable():
        loc.fail(f"{where}: {path} must hold one {what} of printable ASCII (under 64 KiB)")
        return None
    return key


def _auth_key(
    var: str | None,
    path: str | None,
    what: str,
    env: Mapping[str, str],
    loc: _Locator,
    secrets: bool = True,
) -> str | None:
    """The admin, dashboard or metrics key from the environment variable, or the file, the
    config names (None, unread, without `secrets`)."""
    if path:
        where = loc.where(["auth", f"{what}_key_file"])
        if var:
            loc.fail(f"{where}: set {what}_key_env or {what}_key_file, not both")
        if not secrets:
            return None
        return read_key_file(path, f"{where}: auth.{what}_key_file", f"{what} key", loc)
    if not var or not secrets:
        return None
    key = env.get(var)
    if not key:
        loc.fail(f"{loc.where(['auth', f'{what}_key_env'])}: environment variable {var} is not set")
        return None
    if not (key.isascii() and key.isprintable()):
        where = loc.where(["auth", f"{what}_key_env"])
        loc.fail(f"{where}: the {what} key in {var} must be printable ASCII")
        return None
    if key != key.strip():
        # a presented key is read without the spaces around it (auth.presented_key), so a key
        # that has them (a .env line's trailing space) could never be matched: no one could use it
        where = loc.where(["auth", f"{what}_key_env"])
        loc.fail(f"{where}: the {what} key in {var} starts or ends with a space: remove it")
        return None
    return key
