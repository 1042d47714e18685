"""A cascade's in-request judge is part of serving the request: `x-arbiter-cost-usd` (and the
decision) said the caller paid it, but its call was reserved and settled against
`budgets.judge_scope`'s caps, so under `judge_scope = "none"` or `"global"` the tenant's cap
never carried what the header billed, and under `"tenant"` a key's cap did not either. Now the
judge call is on the request's own caps (tenant, key and global, whatever `judge_scope` says:
that setting is for the learner's sampled grading judge), so every cap's spend equals the
header. SQLite and PostgreSQL; the scripted upstream reports each call's cost itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.budget_harness import HEADERS, Harness, settings
from tests.pg import empty_store_url
from tests.test_cascade_caller_headers import BODY, JUDGED, Judged

CAPS = """
[[budgets.caps]]
scope = "tenant"
limit_usd = 100.0
window = "total"

[[budgets.caps]]
scope = "key"
limit_usd = 100.0
window = "total"

[[budgets.caps]]
scope = "global"
limit_usd = 100.0
window = "total"
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    with empty_store_url(request.param, tmp_path / "judge.db") as url:
        yield url  # type: ignore[misc]


@pytest.mark.parametrize("scope", ["tenant", "global", "none"])
@pytest.mark.parametrize("score", [2, 9])  # escalated, passed
def test_every_cap_carries_what_the_header_bills_the_judge_included(
    tmp_path: Path, store_url: str, scope: str, score: int
) -> None:
    extra = CAPS + f'\n[budgets]\njudge_scope = "{scope}"\n'
    s = settings(tmp_path, None, extra=extra, routing=JUDGED, store_url=store_url)
    upstream = Judged(score=score)

    async def go() -> None:
        async with Harness(s, upstream) as h:
            made = await h.client.post(
                "/arbiter/admin/keys", json={"tenant": "acme"}, headers=HEADERS
            )
            key = made.json()
            r = await h.client.post(
                "/v1/chat/completions", json=BODY,
                headers={"authorization": f"Bearer {key['key']}"},
            )  # fmt: skip
            assert r.status_code == 200, r.text
            await h.settled()
            billed = float(r.headers["x-arbiter-cost-usd"])
            assert float(r.headers["x-arbiter-judge-cost-usd"]) > 0  # a judge was called
            assert "sim-tiny" in upstream.names
            store = h.services.store
            for scope_key in ("tenant:acme", f"key:{key['id']}", "global"):
                (row,) = store.budget_usage(scope_key)
                assert row["spent_usd"] == pytest.approx(billed, abs=1e-8), (scope_key, row)
                assert row["reserved_usd"] == 0, (scope_key, row)

    asyncio.run(go())
