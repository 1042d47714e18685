"""probe24c: feedback as an outsider sends it: every score type and range, another tenant's
decision, the same grade flooded, and whether one tenant's flood moves another's routing.

Held on base (kept: each checks a rule the grades live by, in about five seconds): only a JSON
number in [0, 1] is a grade (NaN, Infinity, 1e999, 10^400, true, "1", null: 400s naming
`score`, or the body's parse refusing it); another tenant's decision is a 404; a grade sent
fifty times counts once (its arm's evidence moves by one answer); and the policy is per
(tenant, task, model), so tenant a's flood leaves tenant b's arms exactly where they were
(what a user of a shared sidecar expects: one tenant cannot steer another's routing).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from arbiter.auth import create_key
from tests.inproc import InProcess, recorded_decision, sidecar_in_process

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Name a colour of the sky."}]}
# raw bodies: the parser, not a client library, decides what reaches the score check
BAD_SCORES = ["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400, "true", '"1"', "null",
              "-0.5", "1.0000001", "[1]", '{"v": 1}']  # fmt: skip


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


async def _arms(sc: InProcess, tenant: str) -> dict[tuple[str, str], Any]:
    r = await sc.client.get(f"/arbiter/policy?tenant={tenant}", headers=sc.admin)
    assert r.status_code == 200, r.text
    return {(a["task"], a["model"]): a for a in r.json()["data"]}


def test_feedback_scores_tenants_and_floods(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        a = _bearer(create_key(sc.services.store, "a").key)
        b = _bearer(create_key(sc.services.store, "b").key)
        ids = {}
        for name, h in (("a", a), ("b", b)):
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=h)
            assert r.status_code == 200, r.text
            ids[name] = r.headers["x-arbiter-decision-id"]
            await recorded_decision(sc, ids[name])
        await sc.services.learner.drain(10.0)
        for raw in BAD_SCORES:
            text = f'{{"decision_id": "{ids["a"]}", "score": {raw}}}'
            r = await sc.client.post("/v1/feedback", content=text, headers=a)
            assert r.status_code == 400, (raw, r.status_code, r.text)
            # NaN and Infinity are not JSON: the body's parse says so before any field is read
            assert r.json()["error"]["param"] in ("score", None), (raw, r.text)
        r = await sc.client.post("/v1/feedback", json={"decision_id": ids["b"], "score": 0},
                                 headers=a)  # fmt: skip
        assert r.status_code == 404, r.text  # b's decision, a's key
        r = await sc.client.post("/v1/feedback", json={"decision_id": ids["b"], "score": 1},
                                 headers=b)  # fmt: skip
        assert r.status_code == 200, r.text  # b's own arm, graded once
        await sc.services.learner.drain(10.0)
        before_b = await _arms(sc, "b")
        assert before_b and all(arm["n"] > 0 for arm in before_b.values()), before_b
        before_a = await _arms(sc, "a")
        for _ in range(50):
            r = await sc.client.post("/v1/feedback", json={"decision_id": ids["a"], "score": 0.0},
                                     headers=a)  # fmt: skip
            assert r.status_code == 200, r.text
        await sc.services.learner.drain(10.0)
        assert await _arms(sc, "b") == before_b  # a's flood leaves b's routing alone
        after_a = await _arms(sc, "a")
        (key,) = [k for k in after_a if after_a[k] != before_a.get(k)]
        moved = after_a[key]["n"] - before_a[key]["n"] if key in before_a else after_a[key]["n"]
        assert moved <= 1, (before_a.get(key), after_a[key])  # the answer counts once

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())
