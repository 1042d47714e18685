"""rep26b probe: a config reload on one of two replicas sharing a PostgreSQL store.

Each replica reloads its own file (README: "Other sidecars (hosts) each reload on their own
signal"): until the other reloads, the two price, route and cap by their own files, and the store
holds none of it (no override, no factor row written by a reload). Once both reloaded the same
file they must agree. Found: a price factor a replica detected over the new price (written to the
store against it) was never adopted by the replica that reloaded later: it read the row while
still on the old price, skipped it (learned against another price), and marked it read for good;
now a row skipped for its prices is read again at each sync until they match (or a newer row)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter import config
from arbiter.config_reload import ConfigReloader
from arbiter.offline.demo import demo_settings
from arbiter.services import Services
from arbiter.toml_text import to_toml
from tests.conftest import ENV
from tests.pg import empty_store_url

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]
MODEL = "sim-small"
CAP = '\n[[budgets.caps]]\nscope = "tenant"\nlimit_usd = {limit}\nwindow = "total"\n'


def _text(url: str, tmp_path: Path, price_in: float, limit: float, drop: str | None) -> str:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "unused.db")
    doc["store"]["url"] = url
    doc["models"][MODEL]["price_in_per_mtok"] = price_in
    if drop is not None:
        del doc["models"][drop]
    return to_toml(doc) + CAP.format(limit=limit)


def _replica(path: Path, text: str) -> tuple[Services, ConfigReloader]:
    path.write_text(text)
    settings = config.loads(text, env=ENV)
    svc = Services(settings, seed=1)
    svc.load_state()
    return svc, ConfigReloader(svc, path, settings, text)


def _view(svc: Services) -> tuple[float, list[str], list[float]]:
    m = svc.registry.get(MODEL)
    assert m is not None
    pool = sorted(p.name for p in svc.pool)
    return m.price_in_per_mtok, pool, [c.limit_usd for c in svc.settings.budgets.caps]


def test_a_reload_on_one_replica_then_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():  # a reload reads the process's environment
        monkeypatch.setenv(name, value)

    async def go(url: str) -> None:
        old = _text(url, tmp_path, 0.5, 10.0, None)
        new = _text(url, tmp_path, 1.0, 5.0, "sim-tiny")
        a, ra = _replica(tmp_path / "a.toml", old)
        b, rb = _replica(tmp_path / "b.toml", old)
        try:
            before = _view(b)
            (tmp_path / "a.toml").write_text(new)
            result = await ra.reload()
            assert result.outcome == "applied", result
            for svc in (a, b, a, b):
                svc.sync_policy()
            assert _view(b) == before, "a reload on A changed B"
            assert _view(a)[0] == 1.0 and "sim-tiny" not in _view(a)[1] and _view(a)[2] == [5.0]
            assert a.store.model_overrides() == {} and a.store.price_factors() == {}
            # A's detector finds the upstream bills 1.5 x the new price: adopted and shared
            a.state_sync._adopt_price_factor(MODEL, 1.5)
            a.state_sync.shared_factors.adopted(a.registry, MODEL, 1.5)
            for svc in (a, b, a, b):
                svc.sync_policy()
            assert _view(a)[0] == pytest.approx(1.5)
            assert _view(b)[0] == 0.5, "B on the old price: the factor is not its"
            (tmp_path / "b.toml").write_text(new)
            assert (await rb.reload()).outcome == "applied"
            for svc in (a, b, a, b):
                svc.sync_policy()
            print(f"after both reloaded: A {_view(a)}, B {_view(b)}")
            assert _view(b) == _view(a), "the replicas disagree after reloading the same file"
        finally:
            a.store.close()
            b.store.close()

    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        asyncio.run(go(url))


def test_a_reload_says_which_changes_a_stored_override_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A price the admin API set (stored, every replica) wins over the file's: a reload that
    changes it answered "applied" naming the price, and nothing changed anywhere. Now its
    message names the override that keeps it."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    async def go(url: str) -> None:
        a, ra = _replica(tmp_path / "a.toml", _text(url, tmp_path, 0.5, 10.0, None))
        try:
            a.store.set_model_override(MODEL, {"price_in_per_mtok": 0.7}, 0.0)
            a.sync_policy()
            assert _view(a)[0] == 0.7
            (tmp_path / "a.toml").write_text(_text(url, tmp_path, 1.0, 10.0, None))
            result = await ra.reload()
            assert result.outcome == "applied", result
            assert _view(a)[0] == 0.7  # the stored override still wins (by design)
            print(result.message)
            assert "override" in result.message, result.message
            assert f"models.{MODEL}.price_in_per_mtok" in result.message.split("override")[1]
        finally:
            a.store.close()

    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        asyncio.run(go(url))
