"""What `arbiter check-config` warns about: a config that loads and runs, yet that the operator
most likely did not mean (each warning says what clients will see)."""

from __future__ import annotations

from typing import Any

from arbiter import model_params, sampling
from arbiter.config import RoutingSettings, Settings
from arbiter.host_check import bind_warning
from arbiter.registry import NOT_ROUTABLE


def config_warnings(settings: Settings) -> list[str]:
    out: list[str] = []
    r = settings.routing
    if r.cascade_prompt_gain and not r.difficulty:
        out.append(
            "routing.cascade_prompt_gain: routing.difficulty is off, so no prompt has a "
            "difficulty score and no request skips the cascade's cheap try"
        )
    out += _cost_exponent_warnings(r)
    out += _embedding_warnings(settings)
    out += semantic_bound_warnings(settings)
    out += sampling.undeclared(settings.models.values())
    out += model_params.undeclared(settings.models.values(), lambda m: _protocol(settings, m))
    out += _short_operator_keys(settings)
    if hosts := bind_warning(settings.server.host, settings.server.allowed_hosts):
        out.append(hosts)
    challengers = set(settings.shadow.challengers)
    if not challengers:
        return out
    routable = [m.name for m in settings.models.values() if NOT_ROUTABLE not in m.capabilities]
    if routable and challengers.issuperset(routable):
        out.append(
            "shadow.challengers: every routable model is a challenger "
            f"({', '.join(sorted(routable))}): `auto` answers 503 (no routable model) "
            "until one is promoted"
        )
        return out
    for name, tenant in sorted(settings.tenants.items()):
        allowed = [m for m in tenant.allowed_models or () if m in routable]
        if allowed and challengers.issuperset(allowed):
            out.append(
                f"tenants.{name}.allowed_models: every model the tenant may use is a shadow "
                f"challenger ({', '.join(sorted(allowed))}): its `auto` requests answer 503 "
                "until one is promoted"
            )
    return out


SHORT_KEY_CHARS = 20  # an operator key shorter than this is worth guessing over the network


def _short_operator_keys(settings: Settings) -> list[str]:
    """An admin, dashboard or metrics key short enough to guess: failed keys are not throttled
    (every 401 is as fast as the first), and the admin key spends every upstream key."""
    out = []
    for kind in ("admin", "dashboard", "metrics"):
        key = getattr(settings.auth, f"{kind}_key")
        if key is not None and len(key) < SHORT_KEY_CHARS:
            out.append(
                f"auth.{kind}_key: the {kind} key is {len(key)} characters, short enough to "
                "guess (failed keys are not throttled); use a long random one, such as "
                "`openssl rand -hex 32`"
            )
    return out


def _cost_exponent_warnings(r: RoutingSettings) -> list[str]:
    """routing.cascade_cost_exponent weighs only the math verifier's own threshold rule."""
    if r.cascade_cost_exponent <= 0:
        return []
    if "math" not in r.cascade_tasks or r.cascade_math_verifier <= 0:
        why = "math is not a cascade task or routing.cascade_math_verifier is 0"
    elif "math" in r.cascade_expected_gain:
        why = "math escalates by its routing.cascade_expected_gain line instead"
    else:
        return []
    return [f"routing.cascade_cost_exponent: {why}, so no escalation is weighed by its price"]


def _embedding_warnings(settings: Settings) -> list[str]:
    """The semantic cache and semantic reference grading run without the MiniLM model (exact
    cache only, no free-text reference grade: a warning at start-up); the wheel does not carry
    it, so a user who installed the package is told here how to add it."""
    uses = [
        key
        for key, on in (
            ("cache.semantic", settings.cache.semantic and _cache_on(settings)),
            ("references.semantic", settings.references.semantic),
        )
        if on
    ]
    if not uses:
        return []
    from arbiter.embedding import unavailable

    why = unavailable()
    if why is None:
        return []
    return [f"{key}: {why}; until then it is off" for key in uses]


def semantic_bound_warnings(settings: Settings) -> list[str]:
    """A bound under the whole calibration curve (the shipped 0.02): the semantic side runs,
    costs its embeddings and serves nothing, with no word why but this and the start-up line."""
    if not (settings.cache.semantic and _cache_on(settings)):
        return []
    from arbiter.cache.semantic import serves_nothing, shipped_calibration

    why = serves_nothing(settings.cache.max_false_hit_rate, shipped_calibration())
    return [why] if why else []


def _cache_on(settings: Settings) -> bool:
    """The response cache serves some tenant (as `Services.cache_wanted` decides)."""
    return settings.cache.enabled or any(t.cache for t in settings.tenants.values())


def _protocol(settings: Settings, model: Any) -> str:
    up = settings.upstreams.get(model.upstream)
    return up.protocol if up is not None else "openai"
