"""Outside probe (twelfth session): a request whose every upstream call failed, after calls that
may have been billed.

The README says every response carries `x-arbiter-decision-id` and `x-arbiter-cost-usd`. A
request whose attempts all failed (HTTP 500s, a timeout) was recorded as a failed decision and
charged what those calls may have cost (each at its worst case: a failed call may have been
billed), but its error response carried neither header: the caller was charged and could not
see for what, nor name the decision to an operator. The error now carries the recorded
decision's id, model, task, cost and baseline cost, as a success does (a refusal before any
decision, a 400, still carries none: there is nothing to name)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.adversarial.hostile_upstream import scripted_upstream
from tests.inproc import raw_openai_upstream, recorded_decision, sidecar_in_process

pytestmark = pytest.mark.timeout(60)

# a proxy's error page, not the provider's own error object: the call may have been billed
# (a whole `{"error": ...}` 500 costs nothing since money20: upstream/error_answer.py)
ERROR = b"<html><body>500 Internal Server Error</body></html>"
ANSWER = b"HTTP/1.1 500 X\r\ncontent-type: text/html\r\ncontent-length: %d\r\n\r\n%s" % (
    len(ERROR), ERROR,
)  # fmt: skip


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_failed_billed_request_names_its_decision_and_cost(tmp_path: Path, path: str) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(ANSWER)

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, _),
            sidecar_in_process(tmp_path, edit_config=raw_openai_upstream(port)) as sc,
        ):
            body = {
                "model": "oa-raw", "max_tokens": 100,
                "messages": [{"role": "user", "content": "Say hello."}],
            }  # fmt: skip
            headers = {**sc.auth, "anthropic-version": "2023-06-01"}
            r = await sc.client.post(path, json=body, headers=headers)
            assert r.status_code >= 500, r.text
            assert "error" in r.json(), r.text
            decision_id = r.headers.get("x-arbiter-decision-id")
            assert decision_id, dict(r.headers)
            await asyncio.sleep(0.3)  # the recorder's batch
            record = await recorded_decision(sc, decision_id)
            assert record["status"] == "failed", record
            assert record["cost_usd"] > 0, record  # the failed calls' worst case
            assert float(r.headers["x-arbiter-cost-usd"]) == pytest.approx(
                record["cost_usd"], abs=1e-8
            )
            assert r.headers["x-arbiter-model"] == "oa-raw"
            assert r.headers["x-arbiter-task"] == record["task"]
            assert "x-arbiter-baseline-cost-usd" in r.headers
            # a refusal before any decision names none
            bad = await sc.client.post(path, json={"model": "oa-raw"}, headers=headers)
            assert bad.status_code == 400, bad.text
            assert "x-arbiter-decision-id" not in bad.headers

    asyncio.run(main())
