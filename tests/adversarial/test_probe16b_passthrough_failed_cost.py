"""Outside probe (sixteenth session): what a failed /v1/embeddings or /v1/completions costs.

Each failed call that the upstream may have billed (a 5xx, a reset, a call cancelled because the
client left) commits its worst case to the budget, as chat's do, and the release settles that as
spend; but the decision was recorded with cost 0. So the decision feed, the cost report and the
dashboard said such a request cost nothing while the cap's spend grew: $0.0002 spent for two
503s of /v1/completions, recorded as $0. The decision now carries what was committed (money20:
nothing, for 503s that came whole with the provider's error body)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.hostile_upstream import response, scripted_upstream
from tests.inproc import raw_openai_upstream, recorded_decision, sidecar_in_process

pytestmark = pytest.mark.timeout(60)

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 10.0\n'
RETRY_ONCE = (
    "\n[failover]\ntotal_timeout_s = 5.0\nfirst_byte_timeout_s = 3.0\n"
    "retries_per_model = 1\nbackoff_ms = 1\n"
)
BODIES: dict[str, dict[str, Any]] = {
    "/v1/completions": {"model": "oa-raw", "prompt": "Hi", "max_tokens": 50},
    "/v1/embeddings": {"model": "oa-raw", "input": "Hi"},
}


# money20: a 503 with the provider's own error body is an answered error and costs nothing; a
# proxy's HTML page at 503 is not known to be one (it may have lost an answer the provider billed)
ANSWERS = {
    "proxy-page": (b"text/html", b"<html><body>busy</body></html>"),
    "error-object": (b"application/json", b'{"error":{"message":"busy","type":"server_error"}}'),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("path", list(BODIES))
def test_a_failed_passthrough_request_records_what_its_budget_spent(
    tmp_path: Path, path: str, answer: str
) -> None:
    async def busy(writer: asyncio.StreamWriter) -> None:
        ctype, error = ANSWERS[answer]
        writer.write(response(b"503 Service Unavailable\r\ncontent-type: " + ctype, error))

    async def main() -> None:
        async with scripted_upstream(busy) as (port, calls):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: edit(t) + CAP + RETRY_ONCE
            ) as sc:
                r = await sc.client.post(path, json=BODIES[path], headers=sc.auth)
                assert r.status_code == 503, r.text
                assert calls[0] == 2  # the call and its retry: each may have been billed
                decision = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
                budgets = (await sc.client.get("/arbiter/budgets", headers=sc.admin)).json()
        spent = sum(b["spent_usd"] for b in budgets["data"])
        assert (spent > 0.0) == (answer == "proxy-page"), budgets
        billed = [a["billed"] for a in decision["attempts"]]
        assert billed == [answer == "proxy-page"] * 2, decision["attempts"]
        assert decision["cost_usd"] == pytest.approx(spent), (decision["cost_usd"], spent)

    asyncio.run(main())
