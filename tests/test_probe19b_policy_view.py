"""probe19b: `GET /arbiter/policy` built its rows on the event loop from every arm of every tenant
(tenants x tasks x models), even for a tenant's key reading its own few: with 96,000 arms an
admin's read held the loop 5.7 s and a tenant's 0.7-3.3 s, in which the sidecar served nothing
(bench numbers in the commit). The rows are built in a worker thread now, from the arms of the
tenant asked for only; the answer is the same."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter import policy_view
from arbiter.classify import ALL_TASKS
from tests.inproc import sidecar_in_process


def test_the_policy_view_is_built_off_the_loop_from_the_tenants_own_arms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[tuple[str, str]] = []  # (thread name, arm's tenant) per row built
    row = policy_view.row

    def spy(router: Any, arm: Any) -> dict[str, Any]:
        built.append((threading.current_thread().name, arm.tenant))
        return row(router, arm)

    monkeypatch.setattr(policy_view, "row", spy)

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            models = [m.name for m in sc.services.pool][:3]
            for tenant in ("default", "other-a", "other-b"):
                for task in ALL_TASKS[:4]:
                    for model in models:
                        sc.services.policy.add((tenant, task, model), 2.0, 1.0, 3.0)
            loop_thread = threading.current_thread().name

            admin = await sc.client.get("/arbiter/policy", headers=sc.admin)
            assert admin.status_code == 200, admin.text
            assert len(admin.json()["data"]) == 36
            assert built and all(name != loop_thread for name, _ in built), built[:3]

            built.clear()
            own = await sc.client.get("/arbiter/policy", headers=sc.auth)
            assert own.status_code == 200, own.text
            rows = own.json()["data"]
            assert {r["tenant"] for r in rows} == {"default"} and len(rows) == 12
            # only the tenant's arms were made into rows, none of the others' then dropped
            assert [t for _, t in built] == ["default"] * 12
            assert all(name != loop_thread for name, _ in built)
            # the same rows as the admin's view of that tenant
            assert rows == [r for r in admin.json()["data"] if r["tenant"] == "default"]

    asyncio.run(main())


def test_a_snapshot_of_one_tenant() -> None:
    from arbiter.policy import Policy

    p = Policy()
    p.add(("a", "qa", "m1"), 1.0, 0.0, 1.0)
    p.add(("b", "qa", "m1"), 0.0, 1.0, 1.0)
    p.add(("a", "code", "m2"), 2.0, 1.0, 3.0)
    assert [(s.tenant, s.task, s.model) for s in p.snapshot("a")] == [
        ("a", "code", "m2"), ("a", "qa", "m1")
    ]  # fmt: skip
    assert len(p.snapshot()) == 3 and p.snapshot("c") == []
