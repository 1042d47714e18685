"""Outside probe: a streamed /v1/completions whose upstream trickles (a chunk every 400 ms, each
within the between-chunks timeout). With `failover.deadline_s = 1.5` the chat, messages and
responses streams ended at 1.5 s with a timeout error event; the completions stream ran to its
end (6.4 s) and finished with [DONE]: the request deadline did not bound a passthrough stream
(issue 11 item 5, fixed for chat, not for this path). It now ends at the deadline with one
error event, never [DONE], and is recorded as failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sse

TRICKLE = "\n[models.sim-tiny.failures]\ntrickle = 1.0\ntrickle_ms = 400\n"
DEADLINE = "\n[failover]\ndeadline_s = 1.5\nfirst_byte_timeout_s = 1.0\nretries_per_model = 0\n"


def test_the_request_deadline_ends_a_trickling_completions_stream(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: t + DEADLINE, edit_sim=lambda t: t + TRICKLE
        ) as sc:
            body = {"model": "sim-tiny", "prompt": "Write a long essay about tides.",
                    "max_tokens": 300, "stream": True}  # fmt: skip
            r = await sc.client.post("/v1/completions", json=body, headers=sc.auth)
            assert r.status_code == 200, r.text
            frames = [data for _, data in sse(r.content)]
            assert b"[DONE]" not in frames, "the stream ran past the request deadline"
            assert b'"error"' in frames[-1] and b"deadline" in frames[-1], frames[-1]
            assert sc.services.recorder.flush(5.0)
            decision = await sc.client.get(
                f"/arbiter/decisions/{r.headers['x-arbiter-decision-id']}", headers=sc.admin
            )
            assert decision.json()["status"] != "ok"

    asyncio.run(main())
