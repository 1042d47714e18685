"""A price factor the change detector adopts while a reload's thread works out the new registry
(services._changed on the loop, between `plan_reconfigure` and `adopt`) must survive the
reload: the plan copied the factors before the adoption, and swapping it in whole used to drop
the newer one (the model served at its old price until the detector fired again)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from arbiter import config
from arbiter.config import ModelSettings, UpstreamSettings
from arbiter.config_reload import ConfigReloader
from arbiter.registry import Registry
from tests.conftest import ENV, demo_config
from tests.inproc import sidecar_in_process


def _registry() -> tuple[Registry, ModelSettings, ModelSettings]:
    up = {"u": UpstreamSettings("u", "http://127.0.0.1:1/v1")}
    a = ModelSettings("a", "u", 1.0, 2.0)
    b = ModelSettings("b", "u", 3.0, 4.0)
    return Registry({"a": a, "b": b}, up), a, b


def test_a_factor_adopted_between_plan_and_adopt_is_kept() -> None:
    reg, a, b = _registry()
    plan = reg.plan_reconfigure({"a": a, "b": dataclasses.replace(b, context_window=64_000)})
    assert reg.adopt_price_factor("a", 2.0)  # the loop, while the thread planned
    assert reg.adopt(plan)  # the plan's pool is stale: it says so
    assert reg.price_factor("a") == 2.0
    assert reg["a"].price_in_per_mtok == 2.0 and reg["a"].price_out_per_mtok == 4.0
    assert {m.name: m.price_in_per_mtok for m in reg.pool()}["a"] == 2.0
    assert reg["b"].context_window == 64_000  # the plan's own change is there too


def test_a_reload_that_reprices_the_model_drops_the_racing_factor() -> None:
    """The operator's new price is the news, as when no race happens (`_plan` drops it)."""
    reg, a, b = _registry()
    plan = reg.plan_reconfigure({"a": dataclasses.replace(a, price_in_per_mtok=5.0), "b": b})
    assert reg.adopt_price_factor("a", 2.0)
    assert not reg.adopt(plan)
    assert reg.price_factor("a") == 1.0 and reg["a"].price_in_per_mtok == 5.0
    assert "a" in reg.factors_dropped  # the detector re-learns the new price


def test_no_race_no_replan() -> None:
    reg, a, b = _registry()
    assert reg.adopt_price_factor("a", 2.0)
    plan = reg.plan_reconfigure({"a": a, "b": dataclasses.replace(b, context_window=64_000)})
    assert not reg.adopt(plan)
    assert reg.price_factor("a") == 2.0 and reg["a"].price_in_per_mtok == 2.0


def test_a_reload_keeps_a_factor_the_loop_adopted_while_its_thread_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path: Services.apply_settings plans in a thread; the detector's adoption runs on
    the loop in between (forced: the thread waits for it); the served pool has the factor."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            s = sc.services
            path = tmp_path / "reload.toml"
            base = demo_config(sc.sim.base_url, tmp_path / "arbiter.db")
            path.write_text(base)
            text, as_loaded = config.load_with_text(path)
            s.reloader = ConfigReloader(s, path, as_loaded, text)
            loop = asyncio.get_running_loop()
            name = "sim-tiny"
            configured = s.registry[name].price_in_per_mtok
            plan_reconfigure = s.registry.plan_reconfigure

            async def detector() -> None:  # what services._changed does on a price change
                assert s.registry.adopt_price_factor(name, 3.0)
                s._pool_changed()

            def racing_plan(*args: Any, **kwargs: Any) -> Any:  # in the reload's thread
                plan = plan_reconfigure(*args, **kwargs)
                asyncio.run_coroutine_threadsafe(detector(), loop).result(timeout=10)
                return plan

            monkeypatch.setattr(s.registry, "plan_reconfigure", racing_plan)
            path.write_text(base.replace("[routing]", "[routing]\nexplore = 0.07", 1))
            result = await s.reloader.reload()
            assert result.outcome == "applied", result
            assert s.registry.price_factor(name) == 3.0
            assert s.registry[name].price_in_per_mtok == pytest.approx(configured * 3.0)
            pooled = {m.name: m.price_in_per_mtok for m in s.pool}
            assert pooled[name] == pytest.approx(configured * 3.0)

    asyncio.run(main())
