"""What a stream cut after its first content leaves behind: the bill, the attempts, the circuit.

- Running usage (vLLM's `stream_options.continuous_usage_stats`: a count on every chunk): a
  stream cut mid-answer (the upstream breaks, the client leaves) was priced from the last
  partial count, a lower bound of what the upstream generated, while the same cut of an
  Anthropic stream (test_probe6_anthropic_cut_billing) or of one without usage is charged the
  call's worst case. Now a count is the bill only once the answer finished.
- One upstream call that broke after its first content was listed twice in the decision's
  attempts (ok when it opened, failed when it broke): now once, with its outcome.
- A cut by the caller's own deadline (x-arbiter-max-latency-ms) after the first content counted
  against the model's circuit, though failover exempts the same cut before the first byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe3_stream_dialects import PRICE_IN, PRICE_OUT, decision, with_mock
from tests.adversarial.test_probe6_anthropic_cut_billing import (
    CAP,
    _body,
    check_cut_charged_worst_case,
)
from tests.adversarial.test_probe_upstream_sse import _chunk
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process

PROMPT_TOKENS = 12
WORDS = ["Once", " upon", " a", " time"]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _running(finish: bool) -> list[bytes]:
    """A stream with a running count on every chunk; with `finish` it ends properly (finish
    reason, then [DONE], no usage-only chunk: what vLLM sends without include_usage)."""
    pieces = [
        _chunk(
            choices=[{"index": 0, "delta": {"content": w}, "finish_reason": None}],
            usage={"prompt_tokens": PROMPT_TOKENS, "completion_tokens": i + 1},
        )
        for i, w in enumerate(WORDS)
    ]
    if finish:
        pieces.append(
            _chunk(
                choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
                usage={"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(WORDS)},
            )
            + b"data: [DONE]\n\n"
        )
    return pieces


@pytest.mark.parametrize("how", ["upstream-break", "client-left"])
def test_a_cut_stream_with_running_usage_is_charged_its_worst_case(
    tmp_path: Path, mock: AnthropicMock, how: str
) -> None:
    mock.replay_pieces = _running(finish=False)  # ends without a finish reason: cut

    async def main() -> None:
        edit = with_mock(mock, "openai", "replay-pieces")
        async with sidecar_in_process(tmp_path, edit_config=lambda t: edit(t) + CAP) as sc:
            path = "/v1/chat/completions"
            await check_cut_charged_worst_case(sc, path, how == "upstream-break", "Once")

    asyncio.run(main())


def test_running_usage_of_a_finished_stream_is_its_bill(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """The control: the same counts, ended properly, bill the last one (not the worst case)."""
    mock.replay_pieces = _running(finish=True)

    async def main() -> None:
        edit = with_mock(mock, "openai", "replay-pieces")
        async with sidecar_in_process(tmp_path, edit_config=lambda t: edit(t) + CAP) as sc:
            path = "/v1/chat/completions"
            r = await sc.client.post(path, json=_body(path), headers=sc.auth)
            assert r.status_code == 200 and "[DONE]" in r.text, r.text
            record = await decision(sc, r.headers["x-arbiter-decision-id"])
            assert record["status"] == "ok", record
            bill = (PROMPT_TOKENS * PRICE_IN + len(WORDS) * PRICE_OUT) / 1e6
            assert record["cost_usd"] == pytest.approx(bill), record
            assert record["completion_tokens"] == len(WORDS)

    asyncio.run(main())


def test_a_stream_broken_after_its_first_content_is_one_attempt(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.replay_pieces = _running(finish=False)

    async def main() -> None:
        edit = with_mock(mock, "openai", "replay-pieces")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            path = "/v1/chat/completions"
            r = await sc.client.post(path, json=_body(path), headers=sc.auth)
            assert r.status_code == 200, r.text
            record = await decision(sc, r.headers["x-arbiter-decision-id"])
            [attempt] = record["attempts"]  # one upstream call: one entry, with its outcome
            assert attempt["model"] == "up-mock" and attempt["ok"] is False, attempt
            assert attempt["error"] == record["error"] == "upstream_error", attempt
            # the first content came after ttft_ms; the call lasted latency_ms in all
            assert 0 < attempt["ttft_ms"] <= attempt["latency_ms"], attempt

    asyncio.run(main())


@pytest.mark.parametrize("who", ["callers-deadline", "upstream-reset"])
def test_a_mid_stream_cut_by_the_callers_deadline_leaves_the_circuit_closed(
    tmp_path: Path, mock: AnthropicMock, who: str
) -> None:
    """`stall` sends its first text then nothing, so the caller's 300 ms deadline cuts the
    stream after its first content; `reset` (the upstream's fault) is the control that does
    count against the model."""

    async def main() -> None:
        behaviour = "stall" if who == "callers-deadline" else "reset"
        edit = with_mock(mock, "anthropic", behaviour)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            path = "/v1/messages"
            headers = {**sc.auth, "x-arbiter-max-latency-ms": "300"}
            r = await sc.client.post(path, json=_body(path), headers=headers)
            assert r.status_code == 200 and "content_block_delta" in r.text, r.text
            record = await decision(sc, r.headers["x-arbiter-decision-id"])
            expected = "upstream_timeout" if who == "callers-deadline" else "upstream_unavailable"
            assert record["error"] == expected, record
            circuits = sc.services.breaker.state()
            if who == "callers-deadline":
                assert "up-mock" not in circuits, circuits
            else:
                assert circuits["up-mock"]["consecutive_failures"] == 1, circuits

    asyncio.run(main())
