"""An Anthropic answer's `usage.cost` (gateways that speak Anthropic's API report one) was never
read: the call was priced from its tokens whatever the upstream said it billed. It is now read as
OpenAI's `usage.cost` is, in a whole message and in a stream's message_delta, and vetted the same
way (cost_report.vetted: a believable report is the spend, `cost_source: "upstream"`; one past
the ceiling is dropped with its alert and the call priced from its usage). Through the official
anthropic SDK against the sidecar, in front of a scripted Anthropic-protocol upstream (an-raw:
$1 in / $2 out per Mtok)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_anthropic_upstream, recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(90)

IN, OUT = 10, 5
PRICED = (IN * 1.0 + OUT * 2.0) / 1e6  # $0.00002 at the registry's prices


def _message(cost: float) -> bytes:
    return orjson.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "an-raw",
        "content": [{"type": "text", "text": "Hello."}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": IN, "output_tokens": OUT, "cost": cost},
    })  # fmt: skip


def _events(cost: float) -> bytes:
    def ev(name: str, data: object) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "an-raw",
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": IN, "output_tokens": 1}}  # fmt: skip
    return b"".join([
        ev("message_start", {"type": "message_start", "message": message}),
        ev("content_block_start", {"type": "content_block_start", "index": 0,
                                   "content_block": {"type": "text", "text": ""}}),
        ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "text_delta", "text": "Hello."}}),
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev("message_delta", {"type": "message_delta",
                             "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"output_tokens": OUT, "cost": cost}}),
        ev("message_stop", {"type": "message_stop"}),
    ])  # fmt: skip


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("cost", "believed"),
    [(3 * PRICED / 2, True), (5.0, False)],  # a dearer provider; 250,000x the call's price
)
def test_an_anthropic_body_cost_is_read_and_vetted(
    tmp_path: Path, stream: bool, cost: float, believed: bool
) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        if stream:
            writer.write(response(b"200 OK\r\ncontent-type: text/event-stream", _events(cost)))
        else:
            writer.write(response(b"200 OK\r\ncontent-type: application/json", _message(cost)))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, calls):
            edit = raw_anthropic_upstream(port)
            async with (
                sidecar_in_process(tmp_path, edit_config=lambda t: fast_failover(edit(t))) as sc,
                sdks(sc) as (claude, _),
            ):  # fmt: skip
                create = claude.messages.with_raw_response.create
                raw = await create(
                    model="an-raw", max_tokens=100, stream=stream,  # type: ignore[call-overload]
                    messages=[{"role": "user", "content": "Hi"}],
                )  # fmt: skip
                if stream:
                    text = ""
                    async for event in await raw.parse():
                        if event.type == "content_block_delta":
                            text += event.delta.text
                    assert text == "Hello.", text
                assert calls[0] == 1
                row = await recorded_decision(sc, raw.headers["x-arbiter-decision-id"])
                if believed:
                    assert row["cost_usd"] == pytest.approx(cost, rel=1e-6), row
                    assert row["cost_source"] == "upstream", row
                else:  # past the ceiling: priced from its usage, and the operator told
                    assert row["cost_usd"] == pytest.approx(PRICED, rel=1e-6), row
                    assert row["cost_source"] == "registry", row
                    r = await sc.client.get("/arbiter/alerts", headers=sc.admin)
                    kinds = [a["kind"] for a in r.json()["data"]]
                    assert "cost_report_dropped" in kinds, kinds

    asyncio.run(main())
