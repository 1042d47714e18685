"""Cost-aware exploration (`RouterParams.optimistic`): a Thompson draw may try a cheaper model
that might clear the quality bar, but never pays for a pricier one while the cheaper one's
posterior mean clears it (bench/latency_slo.py's math: small and medium share a 0.90 pass
rate, and plain draws sent a few percent of math to medium)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from arbiter import config
from arbiter.offline.demo import demo_settings
from arbiter.principal import Principal
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV

# bench/latency_slo.py's prices and math pass rates (tiny left out: far under the bar)
_POOL = [
    PoolModel("small", 0.40, 1.60, 32_000, frozenset(), {"math": 0.90}),
    PoolModel("medium", 1.50, 6.00, 32_000, frozenset(), {"math": 0.90}),
    PoolModel("premium", 15.0, 60.0, 32_000, frozenset(), {"math": 0.95}),
]
_REQ = RouteRequest("t", "math", 200, 300)


def _router(optimistic: bool = True) -> Router:
    p = RouterParams(
        baseline="premium", quality_target=0.9, prior_strength=200.0, optimistic=optimistic
    )
    return Router(_POOL, p, seed=5)


def _picks(router: Router, n: int, reference: bool = False) -> Counter[str]:
    decide = router.decide_reference if reference else router.decide
    return Counter(decide(_REQ).chosen for _ in range(n))


def test_a_draw_never_pays_for_a_pricier_model_while_the_cheaper_ones_mean_clears_the_bar() -> None:
    # the bar is 0.9 x premium's draw (~0.855); small's mean 0.90 clears it with room
    assert _picks(_router(), 1500) == Counter({"small": 1500})
    assert _picks(_router(), 300, reference=True) == Counter({"small": 300})


def test_plain_thompson_draws_still_available_and_they_spend_on_the_pricier_model() -> None:
    # what the default replaced: small's draw dips under the bar now and then
    picks = _picks(_router(optimistic=False), 1500)
    assert picks["medium"] + picks["premium"] > 15, picks


@pytest.mark.parametrize("optimistic", [None, False])
def test_routing_optimistic_reaches_the_sidecars_routers(
    tmp_path: Path, optimistic: bool | None
) -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "unused.db")
    doc["store"]["url"] = f"sqlite:///{tmp_path / 's.db'}"
    if optimistic is not None:
        doc["routing"]["optimistic"] = optimistic
    svc = Services(config.loads(to_toml(doc), env=ENV), seed=1)
    try:
        assert svc.router_for(Principal()).params.optimistic is (optimistic is None)
    finally:
        svc.store.close()


def test_a_cheaper_model_under_the_bar_is_still_explored() -> None:
    # small's prior 0.84 on 10 grades: under the bar on its mean, over it on some draws
    pool = [PoolModel("small", 0.40, 1.60, 32_000, frozenset(), {"math": 0.84}), *_POOL[1:]]
    router = Router(pool, RouterParams(baseline="premium", quality_target=0.9, prior_strength=10.0))
    picks = _picks(router, 1000)
    assert 100 < picks["small"] < 900, picks


def test_the_cheap_models_own_failing_grades_move_the_traffic_on() -> None:
    # optimism does not lock a bad cheap model in: its grades pull its mean under the bar
    router = _router()
    for k in range(400):
        router.learn("t", "math", "small", float(k % 10 < 6))  # it passes 60%, not 90%
    picks = _picks(router, 500)
    assert picks["small"] == 0 and picks["medium"] > 450, picks
