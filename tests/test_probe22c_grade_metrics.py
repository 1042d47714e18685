"""probe22c: /metrics counts an answer's grade once per grader, however often it is re-graded.

Before, each `/v1/feedback` on one decision added a grade to `arbiter_grades_total` and
`arbiter_grade_sum` (now `arbiter_grade_score_total`): one answer (auto-graded 1.0) graded 0
twenty times read as 21 grades, mean
0.048, while `/arbiter/stats` said 1 graded, mean 0 — and a flood of feedback on one answer
moved the scraped quality of a model as far as the sender liked. Now the first grade of each
kind counts (the counters stay monotonic); the control, a second answer's feedback, counts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import InProcess, sidecar_in_process

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}


async def _grades(sc: InProcess) -> tuple[int, float]:
    text = (await sc.client.get("/metrics", headers=sc.admin)).text
    n, total = 0, 0.0
    for line in text.splitlines():
        if line.startswith("arbiter_grades_total{"):
            n += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("arbiter_grade_score_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return n, total


@pytest.mark.timeout(120)
def test_regrading_one_answer_counts_once_per_grader_in_metrics(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
        assert r.status_code == 200, r.text
        did = r.headers["x-arbiter-decision-id"]
        await sc.services.learner.drain()
        n0, s0 = await _grades(sc)  # the automatic grade, if any
        for _ in range(20):
            fb = await sc.client.post(
                "/v1/feedback", json={"decision_id": did, "score": 0.0}, headers=sc.auth
            )
            assert fb.status_code == 200, fb.text
        assert await _grades(sc) == (n0 + 1, pytest.approx(s0)), (n0, s0)
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)  # control
        await sc.services.learner.drain()
        n1, s1 = await _grades(sc)
        fb = await sc.client.post(
            "/v1/feedback",
            json={"decision_id": r.headers["x-arbiter-decision-id"], "score": 0.5},
            headers=sc.auth,
        )
        assert fb.status_code == 200, fb.text
        assert await _grades(sc) == (n1 + 1, pytest.approx(s1 + 0.5))

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())
