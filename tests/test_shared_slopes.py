"""Per-prompt slopes live in the shared policy: every router of a sidecar (one per quality target
and baseline) learns them from the same grades, and replicas sharing a store agree on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter import config
from arbiter.learning import Answered
from arbiter.offline.demo import demo_settings
from arbiter.principal import Principal
from arbiter.routing import RouteRequest
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV
from tests.pg import empty_store_url

TENANT_BLOCK = """
[tenants.strict-team]
quality_target = 0.7
baseline = "{baseline}"
"""


def _services(store_url: str, tmp_path: Path, *, seed: int) -> Services:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "unused.db")
    doc["store"]["url"] = store_url
    text = to_toml(doc)
    settings = config.loads(text, env=ENV)
    pool = [m for m in settings.models if m != settings.routing.baseline and m != "judge"]
    text += TENANT_BLOCK.format(baseline=pool[0])
    svc = Services(config.loads(text, env=ENV), seed=seed)
    svc.load_state()
    return svc


def _teach(svc: Services, tenant: str, model: str, n: int, offset: float) -> None:
    router = svc.router_for_tenant(tenant)
    for i in range(n):
        e = ((i * 37) % 21) / 10.0 - 1.0 + offset  # easiness in [-1, 1] + offset
        router.learn(tenant, "math", model, 1.0 if e > 0 else 0.0, easiness=e)


def test_a_tenant_with_its_own_target_learns_its_slopes(tmp_path: Path) -> None:
    svc = _services(f"sqlite:///{tmp_path / 's.db'}", tmp_path, seed=1)
    try:
        tenant = svc.settings.tenants["strict-team"]
        own = svc.router_for(Principal("strict-team", quality_target=0.7, baseline=tenant.baseline))
        default = svc.router_for(Principal())
        assert own is not default, "the tenant's target needs its own router"
        model = next(m.name for m in svc.pool if m.name != tenant.baseline)
        assert own.prompt_model("strict-team", "math", model) is None
        # grades arrive through the learner, as in the live sidecar
        for i in range(40):
            e = (i % 10) / 5.0 - 1.0
            answered = Answered(f"d{i}", "strict-team", "math", model, "q", "a", "stop", None, e)
            # the learner's own path for one grade of one decision
            svc.learner._apply(f"d{i}", answered, 1.0 if e > 0 else 0.0, "auto", "test")
        pm = own.prompt_model("strict-team", "math", model)
        assert pm is not None and pm.mean > own.params.slope_prior_mean, "slope never learned"
        seen_by_default = default.prompt_model("strict-team", "math", model)
        assert seen_by_default is not None and seen_by_default.mean == pytest.approx(pm.mean)
    finally:
        svc.store.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_replicas_agree_on_slopes(backend: str, tmp_path: Path) -> None:
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        a = _services(url, tmp_path, seed=1)
        b = _services(url, tmp_path, seed=2)
        try:
            model = next(m.name for m in a.pool if m.name != a.settings.routing.baseline)
            _teach(a, "default", model, 30, 0.2)
            _teach(b, "default", model, 30, -0.2)  # both learn before either syncs
            for svc in (a, b, a, b):  # push, then adopt every replica's deltas
                svc.sync_policy()
            pa = a.router_for(Principal()).prompt_model("default", "math", model)
            pb = b.router_for(Principal()).prompt_model("default", "math", model)
            assert pa is not None and pb is not None
            assert (pa.mean, pa.precision, pa.center, pa.seen) == pytest.approx(
                (pb.mean, pb.precision, pb.center, pb.seen)
            )
            assert pa.seen == pytest.approx(60.0), "each replica's grades count once"
            # a third replica started later sees the same slope from the store alone
            c = _services(url, tmp_path, seed=3)
            pc = c.router_for(Principal()).prompt_model("default", "math", model)
            c.store.close()
            assert pc is not None and pc.mean == pytest.approx(pa.mean)
        finally:
            a.store.close()
            b.store.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_policy_sync_fetches_only_changed_arms_and_routers_follow(
    backend: str, tmp_path: Path
) -> None:
    with empty_store_url(backend, tmp_path / "shared.db") as url:
        a = _services(url, tmp_path, seed=1)
        b = _services(url, tmp_path, seed=2)
        try:
            models = [m.name for m in a.pool]
            for m in models:  # every arm exists in the store
                a.router_for(Principal()).learn("default", "math", m, 1.0)
            a.sync_policy()
            b.sync_policy()
            assert b.last_sync_rows == len(models)
            b.sync_policy()
            assert b.last_sync_rows == 0, "an idle interval fetches nothing"
            router = b.router_for(Principal())
            router.decide(_route_req())  # builds b's arrays for (default, math)
            for _ in range(200):  # replica a learns the cheapest model always fails
                a.router_for(Principal()).learn("default", "math", models[0], 0.0)
            a.sync_policy()
            b.sync_policy()
            assert b.last_sync_rows == 1, "only the changed arm travels"
            fast = router.decide(_route_req())
            router._counter -= 1  # the reference replays the same draw
            assert fast == router.decide_reference(_route_req())
            _, beta = router.posterior("default", "math", a.pool[0])
            assert beta > 100.0
        finally:
            a.store.close()
            b.store.close()


def _route_req() -> RouteRequest:
    return RouteRequest("default", "math", 100, 100)
