"""A stream's headers leave before its cost is known: they name the worst case as
`x-arbiter-cost-usd-reserved`, never as `x-arbiter-cost-usd` (a probe saw $0.018165 claimed for a
stream whose decision recorded $0.0037); the real cost is the decision's once the stream ends.
Nor do they carry `x-arbiter-baseline-cost-usd`: it was the baseline at `max_tokens or 0`
output tokens, a figure neither known nor named an estimate; the decision has the true one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.inproc import InProcess, run_with_claude
from tests.waiting import until_async

USER = [{"role": "user", "content": "Tell me a story about the sea"}]


def test_a_streamed_answer_names_its_worst_case_reserved_not_its_cost(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        anthropic_auth = {**sc.auth, "anthropic-version": "2023-06-01"}
        for path, payload, headers in [
            ("/v1/chat/completions", {"model": "sim-small", "messages": USER}, sc.auth),
            ("/v1/responses", {"model": "sim-small", "input": "Tell me a story"}, sc.auth),
            ("/v1/messages", {"model": "sim-medium", "max_tokens": 800, "messages": USER},
             anthropic_auth),
        ]:  # fmt: skip
            r = await sc.client.post(path, json={**payload, "stream": True}, headers=headers)
            assert r.status_code == 200, (path, r.text)
            assert "x-arbiter-cost-usd" not in r.headers, path
            assert r.headers["x-arbiter-cost-final"] == "false"
            assert "x-arbiter-baseline-cost-usd" not in r.headers, path
            reserved = float(r.headers["x-arbiter-cost-usd-reserved"])
            decision_id = r.headers["x-arbiter-decision-id"]
            row: dict[str, Any] = {}

            async def recorded(decision_id: str = decision_id, row: dict[str, Any] = row) -> bool:
                got = await sc.client.get(f"/arbiter/decisions/{decision_id}", headers=sc.admin)
                if got.status_code == 200 and got.json().get("cost_usd") is not None:
                    row.update(got.json())
                    return True
                return False

            await until_async(recorded, f"{path}: the stream's decision was never recorded")
            # the worst case bounds the real cost, and is well above it for a short answer
            assert 0 < row["cost_usd"] < reserved, (path, row["cost_usd"], reserved)
            assert row["baseline_cost_usd"] > 0, row  # the true baseline, once it is known
            # the same request unstreamed: its cost, known, in x-arbiter-cost-usd
            r = await sc.client.post(path, json=payload, headers=headers)
            assert r.status_code == 200, (path, r.text)
            assert "x-arbiter-cost-usd-reserved" not in r.headers
            assert float(r.headers["x-arbiter-baseline-cost-usd"]) > 0
            assert float(r.headers["x-arbiter-cost-usd"]) > 0

    run_with_claude(tmp_path, body)
