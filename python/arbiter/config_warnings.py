"""What `arbiter check-config` warns about: a config that loads and runs, yet that the operator
most likely did not mean (each warning says what clients will see)."""

from __future__ import annotations

from arbiter.config import Settings
from arbiter.registry import NOT_ROUTABLE


def config_warnings(settings: Settings) -> list[str]:
    out: list[str] = []
    r = settings.routing
    if r.cascade_prompt_gain and not r.difficulty:
        out.append(
            "routing.cascade_prompt_gain: routing.difficulty is off, so no prompt has a "
            "difficulty score and no request skips the cascade's cheap try"
        )
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
