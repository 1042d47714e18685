"""probe27a: a model two discovering upstreams both list. Upstream `aa` (a second sim) and `sim`
both list sim-new; `aa` then drops it. sim-new must stay in the pool, served by `sim`, which
still lists it: before, `aa`'s remembered "gone" row (its name sorts first) hid `sim`'s listing
and sim-new left the pool (404 by name, never routed) while an upstream still served it."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx

from arbiter.offline.demo import API_KEY_ENV, sim_config
from arbiter.offline.sim.config import parse_config
from arbiter.offline.sim.runner import sim_running
from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg
from tests.test_discovery import HIDDEN, alerts, chat, discover, pool


async def _list(root_url: str, listed: bool) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{root_url}/_sim/control", json={"model": "sim-new", "listed": listed})
        assert r.status_code == 200, r.text


def _with_aa(url: str) -> Callable[[str], str]:
    """The demo config discovering from `sim`, plus upstream `aa` (at `url`) discovering too."""

    def edit(text: str) -> str:
        aa = (
            f'\n[upstreams.aa]\nbase_url = "{url}"\napi_key_env = "{API_KEY_ENV}"\n'
            'discover = true\ndiscover_interval_s = 3600\ninclude = ["sim-new"]\n'
        )
        return discover(text) + aa

    return edit


def test_a_model_one_upstream_dropped_stays_while_another_lists_it(tmp_path: Path) -> None:
    async def main() -> None:
        other = parse_config(tomllib.loads(sim_config(()) + HIDDEN))
        async with sim_running(other) as sim2:
            edit = _with_aa(sim2.base_url)
            async with sidecar_in_process(
                tmp_path, edit_config=edit, edit_sim=lambda t: t + HIDDEN
            ) as sc:
                s = sc.services
                await _list(sc.sim.root_url, True)
                await _list(sim2.root_url, True)
                assert await s.discovery.poll_once("aa") is not None
                assert await s.discovery.poll_once("sim") is not None
                assert "sim-new" in pool(s)
                await _list(sim2.root_url, False)
                assert await s.discovery.poll_once("aa") is not None
                # `sim` still lists it: in the pool, on `sim`, callable by name
                assert "sim-new" in pool(s), s.registry.discovered().get("sim-new")
                assert s.registry["sim-new"].upstream == "sim"
                r = await chat(sc, "sim-new")
                assert r.status_code == 200, r.text
                assert r.headers["x-arbiter-model"] == "sim-new"
                # left27: `aa`'s alert says it is still routed, on `sim` (it said "no longer
                # routed")
                (said,) = await alerts(sc, "models_gone")
                assert said["message"].endswith("still routed, served by sim"), said
                assert said["data"]["served_by"] == "sim", said
                # and once `sim` drops it too, it leaves
                await _list(sc.sim.root_url, False)
                assert await s.discovery.poll_once("sim") is not None
                assert "sim-new" not in pool(s)
                assert (await chat(sc, "sim-new")).status_code == 404
                last = [a for a in await alerts(sc, "models_gone") if a["id"] != said["id"]]
                assert [a["message"] for a in last] == [
                    "sim: sim-new left the listing; no longer routed"
                ]

    asyncio.run(main())


def test_two_replicas_agree_on_the_upstream_that_still_lists_it(tmp_path: Path) -> None:
    """The same on PostgreSQL with two replicas: A polls both upstreams, B only syncs; B reads
    the same rows the same way (sim-new in its pool, on `sim`)."""
    base = require_pg()

    async def main(url: str) -> None:
        other = parse_config(tomllib.loads(sim_config(()) + HIDDEN))
        async with sim_running(other) as sim2:
            edit = _with_aa(sim2.base_url)
            async with (
                sidecar_in_process(
                    tmp_path / "a", edit_config=edit, edit_sim=lambda t: t + HIDDEN, store_url=url
                ) as a,
                sidecar_in_process(
                    tmp_path / "b", edit_config=edit, edit_sim=lambda t: t + HIDDEN, store_url=url
                ) as b,
            ):
                await _list(a.sim.root_url, True)
                await _list(sim2.root_url, True)
                assert await a.services.discovery.poll_once("aa") is not None
                assert await a.services.discovery.poll_once("sim") is not None
                await _list(sim2.root_url, False)
                assert await a.services.discovery.poll_once("aa") is not None
                await asyncio.to_thread(b.services.sync_policy)
                for s in (a.services, b.services):
                    assert "sim-new" in pool(s), s.registry.discovered().get("sim-new")
                    assert s.registry["sim-new"].upstream == "sim"

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with fresh_database(base) as url:
        asyncio.run(main(url))
