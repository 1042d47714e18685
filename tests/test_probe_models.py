"""Outside probes of GET /v1/models (the tenant's view): `routed` says whether `auto` routes to a
model, so a challenger (shadow traffic only), or a paused or retired one, is listed as not routed
until it is promoted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import InProcess, sidecar_in_process

SHADOW = '\n[shadow]\nchallengers = ["sim-tiny"]\nsample_rate = 0.0\nauto_promote = false\n'


async def routed(sc: InProcess, name: str) -> bool:
    r = await sc.client.get("/v1/models", headers=sc.auth)
    assert r.status_code == 200, r.text
    (row,) = [m for m in r.json()["data"] if m["id"] == name]
    one = await sc.client.get(f"/v1/models/{name}", headers=sc.auth)
    assert one.status_code == 200 and one.json()["routed"] is row["routed"], one.text
    return bool(row["routed"])


def test_a_challenger_is_listed_as_not_routed_until_promoted(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + SHADOW) as sc:
            assert await routed(sc, "sim-small")
            assert not await routed(sc, "sim-tiny")
            for action, expected in (("promote", True), ("pause", False), ("resume", False),
                                     ("promote", True), ("retire", False)):  # fmt: skip
                r = await sc.client.post(
                    "/arbiter/challengers/sim-tiny", json={"action": action}, headers=sc.admin
                )
                assert r.status_code == 200, r.text
                assert await routed(sc, "sim-tiny") is expected, action

    asyncio.run(main())
