"""Outside probe: what a budget is charged for an Anthropic-protocol stream that breaks after
its first text, by the upstream (a reset) or by the client leaving while it runs.

Anthropic sends usage twice: in message_start (the input counts and a placeholder
`output_tokens: 1`), and the final output count in message_delta at the end. A stream that
broke before message_delta was priced from message_start's counts, as if the upstream had
billed one output token, while an OpenAI-protocol stream cut the same way (no usage yet) was
charged its worst case, as the README promises for a call whose bill is unknown. So a client
that hangs up on long Anthropic answers spent almost nothing of its cap while the provider
billed every token it generated (the simulator billed a 60-token answer at 18x what the
budget was charged). Now message_start's counts are the usage only once the stream ends
properly; a broken one is charged the call's worst case."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe2_client_gone import post_scope
from tests.adversarial.test_probe3_stream_dialects import decision, with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import InProcess, sidecar_in_process

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 10.0\n'
MAX_TOKENS = 1000
WORST_OUTPUT_USD = MAX_TOKENS * 2.0 / 1e6  # up-mock's output price is $2 per million tokens
PATHS = ["/v1/messages", "/v1/chat/completions"]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _body(path: str) -> dict[str, Any]:
    return {"model": "up-mock", "stream": True, "max_tokens": MAX_TOKENS,
            "messages": [{"role": "user", "content": "Tell me a long story."}]}  # fmt: skip


async def _leave_after_first_bytes(sc: InProcess, path: str) -> str:
    """Drive the app as uvicorn would for a client that hangs up once the answer has begun;
    the decision id."""
    raw = orjson.dumps(_body(path))
    scope = post_scope(sc, path, len(raw))
    began = asyncio.Event()
    headers: dict[str, str] = {}
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await began.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
            headers.update((k.decode(), v.decode()) for k, v in message["headers"])
        elif message["type"] == "http.response.body" and message.get("body"):
            began.set()

    await asyncio.wait_for(sc.app(scope, receive, send), 20)
    return headers["x-arbiter-decision-id"]


async def _spent(sc: InProcess) -> float:
    r = await sc.client.get("/arbiter/budgets", headers=sc.admin)
    return float(sum(b["spent_usd"] for b in r.json()["data"]))


async def check_cut_charged_worst_case(
    sc: InProcess, path: str, upstream_broke: bool, answered: str = ""
) -> None:
    """One stream cut (the upstream broke it, `answered` already relayed; else the client left
    after the first bytes): its decision failed, charged at least the worst case, and that is
    what the cap spent."""
    if upstream_broke:
        r = await sc.client.post(path, json=_body(path), headers=sc.auth)
        assert r.status_code == 200 and answered in r.text, r.text
        decision_id = r.headers["x-arbiter-decision-id"]
    else:
        decision_id = await _leave_after_first_bytes(sc, path)
    record = await decision(sc, decision_id)
    assert record["status"] == "failed", record
    assert record["cost_usd"] >= WORST_OUTPUT_USD, record
    assert await _spent(sc) == pytest.approx(record["cost_usd"])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("how", ["upstream-reset", "client-left"])
def test_a_broken_anthropic_stream_is_charged_its_worst_case(
    tmp_path: Path, mock: AnthropicMock, path: str, how: str
) -> None:
    behaviour = "reset" if how == "upstream-reset" else "stall"

    async def main() -> None:
        edit = with_mock(mock, "anthropic", behaviour)
        async with sidecar_in_process(tmp_path, edit_config=lambda t: edit(t) + CAP) as sc:
            await check_cut_charged_worst_case(sc, path, how == "upstream-reset")

    asyncio.run(main())
