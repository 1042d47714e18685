"""config_reload's rules without a process: which differences are live, which refuse a reload,
and the registry's swap (a model taken out stays known to the requests that hold it)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest

from arbiter import config, logs
from arbiter.config import ModelSettings, TenantSettings, UpstreamSettings
from arbiter.config_reload import ConfigReloader, differences, flatten, is_live
from arbiter.offline.demo import demo_settings
from arbiter.registry import Registry
from arbiter.toml_text import to_toml
from tests.conftest import ENV, demo_config
from tests.inproc import sidecar_in_process


def make_settings() -> config.Settings:
    doc = demo_settings("http://127.0.0.1:9/v1", Path("unused.db"))
    doc["store"]["url"] = "sqlite://:memory:"
    return config.loads(to_toml(doc), env=ENV)


def test_live_and_fixed_settings_are_told_apart() -> None:
    ups = ("u", "u.v")  # an upstream's name may hold a dot: the longest that fits is the one
    for name in ("models.a.price_in_per_mtok", "tenants.t.quality_target", "budgets.caps",
                 "routing.quality_target", "routing.cascade_tasks", "upstreams.u.base_url",
                 "upstreams.u.v.api_key", "auth.admin_key", "auth.admin_key_file",
                 "auth.key_cache_ttl_s", "auth.feedback_per_minute", "cache.ttl_s",
                 "cache.max_entries",
                 "latency.half_life_s", "latency.priors.m.ttft_ms"):  # fmt: skip
        assert is_live(name, ups), name
    for name in ("server.port", "server.workers", "store.url", "upstreams.u.protocol",
                 "upstreams.u.v.discover", "upstreams.w.base_url", "auth.mode",
                 "routing.seed", "routing.difficulty_model", "tenants.t.cache", "cache.enabled",
                 "cache.semantic", "cache.max_false_hit_rate", "latency.outlier_z",
                 "latency.coverage_step"):  # fmt: skip
        assert not is_live(name, ups), name
    # an upstream added or taken out whole: live (`whole`), any of its keys
    assert is_live("upstreams.w.protocol", ("w",), whole=("w",))


def test_differences_name_each_changed_leaf_and_a_table_added() -> None:
    old = make_settings()
    models = dict(old.models)
    first = next(iter(models))
    models[first] = dataclasses.replace(models[first], price_in_per_mtok=123.0)
    new = dataclasses.replace(
        old,
        models=models,
        server=dataclasses.replace(old.server, port=old.server.port + 1),
        tenants={"t": TenantSettings("t", quality_target=0.5)},
        source="elsewhere.toml",
    )
    changed = differences(old, new)
    assert f"models.{first}.price_in_per_mtok" in changed
    assert "server.port" in changed and "tenants.t.quality_target" in changed
    assert "source" not in changed
    assert differences(old, old) == []
    assert flatten(old)["server.port"] == old.server.port


def test_a_model_taken_out_by_a_reload_is_disabled_but_still_known() -> None:
    up = {"u": UpstreamSettings("u", "http://127.0.0.1:1/v1")}
    a = ModelSettings("a", "u", 1.0, 2.0)
    b = ModelSettings("b", "u", 3.0, 4.0)
    reg = Registry({"a": a, "b": b}, up)
    reg.reconfigure({"a": dataclasses.replace(a, price_in_per_mtok=10.0)})
    assert reg["a"].price_in_per_mtok == 10.0 and reg.routable("a")
    assert reg.get("b") is None and not reg.routable("b")
    assert reg["b"].price_in_per_mtok == 3.0  # a request holding it still settles
    reg.reconfigure({"a": a, "b": b})  # back in the config: served again
    assert reg.get("b") is not None and reg["a"].price_in_per_mtok == 1.0


def test_a_reload_applies_tenants_and_budgets_to_the_next_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: a tenant's allowed models and a cap, changed in the file and reloaded, hold
    the next request (the e2e tests cover prices, streams in flight, SIGHUP and workers)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, tenant="team") as sc:
            path = tmp_path / "reload.toml"
            base = demo_config(sc.sim.base_url, tmp_path / "arbiter.db")
            path.write_text(base)
            text, as_loaded = config.load_with_text(path)
            sc.services.reloader = ConfigReloader(sc.services, path, as_loaded, text)
            ask = {"model": "sim-tiny", "messages": [{"role": "user", "content": "Hi?"}]}
            r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
            assert r.status_code == 200, r.text
            path.write_text(
                base + '\n[tenants.team]\nallowed_models = ["sim-medium"]\n'
                '\n[[budgets.caps]]\nscope = "tenant"\nlimit_usd = 1e-9\nwindow = "total"\n'
                '\n[models.sim-alias]\nupstream = "sim"\nupstream_model = "sim-tiny"\n'
                "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
                'capabilities = ["chat", "no-route"]\n'
            )
            result = await sc.services.reloader.reload()
            assert result.outcome == "applied", result
            assert (
                "tenants.team.allowed_models" in result.changed and "budgets.caps" in result.changed
            )
            r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
            assert r.status_code == 404, r.text  # sim-tiny is no longer this tenant's
            ask["model"] = "sim-medium"
            r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
            assert r.status_code == 429, r.text  # the cap the reload set
            # a model the reload added: known, and its log lines name its upstream
            assert sc.services.registry.get("sim-alias") is not None
            record = logging.LogRecord("t", logging.INFO, "", 0, "m", None, None)
            record.model = "sim-alias"
            logs.UpstreamOf({}).filter(record)
            assert record.__dict__.get("upstream") == "sim"

    asyncio.run(main())
