"""`GET /arbiter/policy` pages (`limit` 1-1000, default 1000; `after=<last_id>` while
`has_more`), in (tenant, task, model) order: unpaged, an admin's read of 96,000 arms was one
17.7 MB answer. Every arm once over the pages, a tenant's pages its own, a forged cursor a 400."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arbiter.classify import ALL_TASKS
from arbiter.policy import Policy
from tests.inproc import sidecar_in_process


def test_the_policy_pages_every_arm_once_in_key_order(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            models = [m.name for m in sc.services.pool][:3]
            tenants = [f"t{i:03d}" for i in range(60)] + ["default"]
            for tenant in tenants:
                for task in ALL_TASKS[:8]:
                    for model in models:
                        sc.services.policy.add((tenant, task, model), 2.0, 1.0, 3.0)
            total = len(tenants) * len(ALL_TASKS[:8]) * len(models)
            assert total > 1000
            seen: list[tuple[str, str, str]] = []
            after: str | None = None
            pages = 0
            while True:
                params = {} if after is None else {"after": after}
                r = await sc.client.get("/arbiter/policy", params=params, headers=sc.admin)
                assert r.status_code == 200, r.text
                body = r.json()
                assert len(body["data"]) <= 1000
                seen += [(x["tenant"], x["task"], x["model"]) for x in body["data"]]
                pages += 1
                if not body["has_more"]:
                    break
                after = body["last_id"]
            assert pages == -(-total // 1000) and seen == sorted(set(seen)) and len(seen) == total

            small = await sc.client.get(
                "/arbiter/policy", params={"tenant": "t007", "limit": 5}, headers=sc.admin
            )
            first = small.json()
            assert [x["tenant"] for x in first["data"]] == ["t007"] * 5 and first["has_more"]
            rest = await sc.client.get(
                "/arbiter/policy",
                params={"tenant": "t007", "after": first["last_id"]},
                headers=sc.admin,
            )
            rows = first["data"] + rest.json()["data"]
            assert len(rows) == 8 * len(models) and not rest.json()["has_more"]
            own = await sc.client.get("/arbiter/policy", params={"limit": 1000}, headers=sc.auth)
            assert {x["tenant"] for x in own.json()["data"]} == {"default"}
            for params in ({"after": "not-a-cursor!"}, {"after": "W10"}, {"limit": "0"},
                           {"limit": "1001"}, {"offset": "5"}):  # fmt: skip
                r = await sc.client.get("/arbiter/policy", params=params, headers=sc.admin)
                assert r.status_code == 400, (params, r.text)
                assert r.json()["error"]["param"] in ("after", "limit", "offset"), r.text

    asyncio.run(main())


def test_a_page_of_arms_after_a_key_gone_since() -> None:
    p = Policy()
    for key in (("a", "qa", "m1"), ("a", "qa", "m3"), ("b", "qa", "m1")):
        p.add(key, 1.0, 0.0, 1.0)
    page = p.page(None, ("a", "qa", "m2"), 5)  # m2 never was: the page starts after it
    assert [(s.tenant, s.model) for s in page] == [("a", "m3"), ("b", "m1")]
    assert [s.model for s in p.page("a", None, 1)] == ["m1"]
