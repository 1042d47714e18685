"""Outside probe (twelfth session): `durability = "strict"` with the shared store down.

Strict durability commits each decision before the answer is acknowledged; a failed commit is a
503 `store_unavailable` (a stream: that error event instead of [DONE]). But the upstream call was
made, and answered: the provider bills it. The pipeline settled the budget only after the record
was committed, so a failed commit skipped the settle and the request's end released its
reservation: the answered call's cost never reached the cap, and neither did the outage
allowance keep it. While the store was down every capped request went through, each one's
spend forgotten: a budget that the README says fails closed failed open. The spend is now
settled before the record is committed (queued while the store is down, written when it
returns)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.pg import fresh_database, require_pg, set_connections

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(90)]

CAP = '\n[[budgets.caps]]\nscope = "global"\nlimit_usd = 100\nwindow = "total"\n'


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_failed_strict_commit_still_settles_the_calls_spend(tmp_path: Path, stream: bool) -> None:
    with fresh_database(require_pg()) as url:
        db = url.rsplit("/", 1)[1]

        def strict_on_pg(text: str) -> str:
            return (
                "\n".join(
                    f'url = "{url}"\ndurability = "strict"' if line.startswith("url = ") else line
                    for line in text.splitlines()
                ).replace("judge_sample_rate = 1.0", "judge_sample_rate = 0.0")
                + CAP
            )

        async def spent(sc: InProcess) -> float:
            """The cap's spend once nothing is held (settles run after the answer)."""
            for _ in range(100):  # bounded: 10 s
                r = await sc.client.get("/arbiter/budgets", headers=sc.admin)
                assert r.status_code == 200, r.text
                (row,) = r.json()["data"]
                if row["reserved_usd"] == 0:
                    return float(row["spent_usd"])
                await asyncio.sleep(0.1)
            raise AssertionError(f"still held: {row}")

        async def main() -> None:
            async with sidecar_in_process(tmp_path, edit_config=strict_on_pg) as sc:
                body = {
                    "model": "sim-premium", "stream": stream,
                    "messages": [{"role": "user", "content": "Write a short poem."}],
                }  # fmt: skip
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 200, r.text
                one_call = before = await spent(sc)
                await asyncio.to_thread(set_connections, db, False)
                try:
                    r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                    if stream:  # the answer streamed, then the commit failed
                        assert r.status_code == 200 and "store_unavailable" in r.text, r.text
                    else:
                        assert r.status_code == 503, r.text
                        assert r.json()["error"]["code"] == "store_unavailable", r.text
                finally:
                    await asyncio.to_thread(set_connections, db, True)
                for _ in range(100):  # the budget's retry loop writes the queued settle (10 s)
                    if not sc.services.budgets.store_down:
                        break
                    await asyncio.sleep(0.1)
                # the second call's spend reached the cap (the sim answers alike: about one
                # call's cost more), not only the first's
                assert await spent(sc) - before > one_call / 2, (before, await spent(sc))

        asyncio.run(main())
