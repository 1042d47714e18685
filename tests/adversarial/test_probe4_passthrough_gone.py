"""Outside probe: a client that leaves while its /v1/embeddings or (non-streamed) /v1/completions
call is still with the upstream. Chat cancels such a call (disconnect.py) and records the
decision as `client_disconnected`; the pass-through endpoints did not: the upstream call ran to
its end (and cost), the answer went to nobody, and the decision said `ok`. They now watch the
client as chat does: the call is cancelled, the client's status is 499, and the decision says
`client_disconnected`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.inproc import InProcess, sidecar_in_process

SLOW = 5000  # ms the upstream takes: far longer than the client stays
SLOW_SIM = f"\n[models.sim-tiny.failures]\nstall = 1.0\nstall_ms = {SLOW}\n"


def _slow(text: str) -> str:
    """sim-tiny answers embeddings after SLOW ms, completions after a SLOW ms stall."""
    head = "[models.sim-tiny]\n"
    assert head in text
    start = text.index(head)
    end = text.index("\n[", start + len(head))
    section = text[start:end].replace("latency_ms = 8.0", f"latency_ms = {SLOW}.0")
    return text[:start] + section + text[end:] + SLOW_SIM


async def leave_during_the_call(sc: InProcess, path: str, payload: dict[str, Any]) -> int:
    """Drive the app as uvicorn would for a client that sends its request, then hangs up 0.3 s
    later, long before the upstream answers; the status the app sent."""
    inbox = [{"type": "http.request", "body": orjson.dumps(payload), "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        await asyncio.sleep(0.3)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "server": ("arbiter", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"127.0.0.1"),
                    (b"authorization", f"Bearer {sc.api_key}".encode()),
                    (b"content-type", b"application/json")],
    }  # fmt: skip
    await asyncio.wait_for(sc.app(scope, receive, send), 30)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return int(start["status"])


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/embeddings", {"model": "sim-tiny", "input": "the tide rises"}),
        ("/v1/completions", {"model": "sim-tiny", "prompt": "Once upon", "max_tokens": 20}),
    ],
)
def test_a_client_leaving_a_passthrough_call_cancels_it(
    tmp_path: Path, path: str, payload: dict[str, Any]
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_sim=_slow) as sc:
            assert await leave_during_the_call(sc, path, payload) == 499
            assert sc.services.recorder.flush(5.0)
            r = await sc.client.get("/arbiter/decisions?limit=1", headers=sc.admin)
            row = r.json()["data"][0]
            assert row["mode"] == "passthrough" and row["chosen_model"] == "sim-tiny", row
            assert row["status"] == "failed" and row["error"] == "client_disconnected", row

    asyncio.run(main())
