"""`GET /arbiter/policy` pages by a key cursor in the store (store/arm_pages.py: the arms' index),
with this replica's unsent arms merged in: every arm once, in Python's string order on both
backends (PostgreSQL's own collation may sort by language rules: `COLLATE "C"`), an arm another
replica wrote listed before this replica's next sync, with the store's evidence. Before, a page
was a heap over this replica's in-memory keys: rescanned whole for every page (96,000 arms: 96
pages, bench/admin_views_loop_stall.py), and blind to arms not yet synced."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from arbiter.records import PolicyDelta
from tests.budget_harness import ADMIN, Harness, Scripted, settings
from tests.pg import empty_store_url

# names whose byte order differs from a language collation's (en_US: a < B < é < z < Z...)
TENANTS = ["B-team", "a-team", "z-team", "\u00e9-team", "Z-team", "a-team-2"]
TASKS = ["chat", "code"]
MODELS = ["sim-small", "sim-premium"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_policy_pages_the_stores_arms_and_the_unsent_ones_in_key_order(
    backend: str, tmp_path: Path
) -> None:
    with empty_store_url(backend, tmp_path / "pages.db") as url:
        s = settings(tmp_path, None, store_url=url)
        # no policy sync during the test: the store's arms are another replica's, unsynced
        s = dataclasses.replace(s, store=dataclasses.replace(s.store, sync_interval_ms=3_600_000))

        async def walk() -> tuple[list[tuple[str, str, str]], dict[tuple[str, str, str], float]]:
            async with Harness(s, Scripted()) as h:
                other = [
                    PolicyDelta(t, task, m, 2.0, 1.0, 3.0)
                    for t in TENANTS for task in TASKS for m in MODELS
                ]  # fmt: skip
                await asyncio.to_thread(h.services.store.write, other, batch_id="other-replica")
                h.services.policy.add(("m-local", "chat", "sim-small"), 1.0, 0.0, 1.0)
                h.services.policy.add(("a-team", "chat", "sim-small"), 1.0, 0.0, 1.0)
                seen: list[tuple[str, str, str]] = []
                alphas: dict[tuple[str, str, str], float] = {}
                after: str | None = None
                while True:
                    params = {"limit": "5"} | ({} if after is None else {"after": after})
                    r = await h.client.get(
                        "/arbiter/policy", params=params,
                        headers={"authorization": f"Bearer {ADMIN}"},
                    )  # fmt: skip
                    assert r.status_code == 200, r.text
                    body = r.json()
                    for x in body["data"]:
                        seen.append((x["tenant"], x["task"], x["model"]))
                        alphas[seen[-1]] = x["alpha"]
                    if not body["has_more"]:
                        return seen, alphas
                    after = body["last_id"]

        seen, alphas = asyncio.run(walk())
    keys = {(t, task, m) for t in TENANTS for task in TASKS for m in MODELS}
    keys.add(("m-local", "chat", "sim-small"))
    assert seen == sorted(keys)  # each once, in code point order, the unsent one in its place
    assert alphas[("B-team", "code", "sim-premium")] == 2.0  # the store's evidence
    assert alphas[("a-team", "chat", "sim-small")] == 3.0  # the store's + this replica's unsent
    assert alphas[("m-local", "chat", "sim-small")] == 1.0  # this replica's alone


def test_with_the_store_down_the_policy_pages_what_this_replica_holds(tmp_path: Path) -> None:
    from arbiter.store import StoreError

    s = settings(tmp_path, None)

    async def walk() -> list[str]:
        async with Harness(s, Scripted()) as h:
            h.services.policy.add(("t-local", "chat", "sim-small"), 1.0, 0.0, 1.0)

            def down(*args: object) -> None:
                raise StoreError("the store is down")

            h.services.store.arms_page = down  # type: ignore[method-assign]
            r = await h.client.get("/arbiter/policy", headers={"authorization": f"Bearer {ADMIN}"})
            assert r.status_code == 200, r.text
            return [x["tenant"] for x in r.json()["data"]]

    assert asyncio.run(walk()) == ["t-local"]
