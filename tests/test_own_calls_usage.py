"""Arbiter's own calls (the LLM judge's, a shadow call's) answered whole with a usage that lacks a
side, or with none at all, were charged their worst case (the judge: its 200-token reply limit;
a shadow call: the client's max_tokens) where a client's answer in the same state is priced from
what it relayed. They now follow the same rule (dropped_usage.own_call_cost): counted from the
answer when it finished, the worst case when it did not (no finish reason: the control). Through
an in-process sidecar whose upstream is a scripted socket answering each call the same way; no
client sees these calls, so no SDK is involved."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.judge_calls import JUDGE_MAX_TOKENS, judge_caller
from tests.adversarial.hostile_upstream import response, scripted_upstream
from tests.inproc import InProcess, raw_anthropic_upstream, raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(90)

TEXT = "The capital of France is Paris, a city on the Seine."  # ~13 tokens
# in every prompt this file sends: the scripted upstream counts only requests carrying it
MARK = "run-" + os.urandom(6).hex()
PRICE_OUT = 2.0  # oa-raw's and an-raw's $ per million output tokens (tests/inproc.py)
# usage: what the upstream says (None: no usage key); finished: a finish / stop reason given
CASES: dict[str, tuple[dict[str, Any] | None, bool]] = {
    "no usage": (None, True),
    "input count alone": ({"in": 12}, True),
    "output count alone": ({"out": 13}, True),
    # past any limit the call was sent (probe23b): no count, as an absurd one
    "output count past the limit": ({"in": 12, "out": 10**7}, True),
    "no usage, no finish reason (control)": (None, False),
}


def _answer(protocol: str, usage: dict[str, Any] | None, finished: bool) -> bytes:
    if protocol == "openai":
        body: dict[str, Any] = {
            "id": "c1", "object": "chat.completion", "created": 1, "model": "oa-raw",
            "choices": [{"index": 0, "finish_reason": "stop" if finished else None,
                         "message": {"role": "assistant", "content": TEXT}}],
        }  # fmt: skip
        if usage is not None:
            names = {"in": "prompt_tokens", "out": "completion_tokens"}
            body["usage"] = {names[k]: v for k, v in usage.items()}
    else:
        body = {
            "id": "m1", "type": "message", "role": "assistant", "model": "an-raw",
            "content": [{"type": "text", "text": TEXT}], "stop_sequence": None,
            "stop_reason": "end_turn" if finished else None,
        }  # fmt: skip
        if usage is not None:
            names = {"in": "input_tokens", "out": "output_tokens"}
            body["usage"] = {names[k]: v for k, v in usage.items()}
    return response(b"200 OK\r\ncontent-type: application/json", orjson.dumps(body))


async def _own_calls(sc: InProcess, mode: str) -> list[dict[str, Any]]:
    await sc.services.shadow.drain()
    sc.services.recorder.flush(5.0)
    r = await sc.client.get("/arbiter/decisions?limit=100", headers=sc.admin)
    return [d for d in r.json()["data"] if d["mode"] == mode]


def _check(row: dict[str, Any], case: str, worst_output_usd: float) -> None:
    usage, finished = CASES[case]
    cost = float(row["cost_usd"])
    if not finished:  # nothing says the reply ended: its worst case, as before
        assert cost >= worst_output_usd, (case, row)
        return
    # counted: the side given kept, the other Arbiter's (TEXT's ~13 tokens; the prompt counted)
    prompt, output = row["prompt_tokens"], row["completion_tokens"]
    assert prompt > 0 and 10 <= output <= 20, (case, row)
    if usage is not None and "in" in usage and "out" not in usage:  # a side kept
        assert prompt == usage["in"], (case, row)
    assert cost == pytest.approx((prompt * 1.0 + output * PRICE_OUT) / 1e6, rel=1e-6), (case, row)
    assert cost < worst_output_usd / 4, (case, row)


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_judge_reply_without_its_counts(tmp_path: Path, case: str, protocol: str) -> None:
    answer = _answer(protocol, *CASES[case])

    async def serve(writer: asyncio.StreamWriter) -> None:
        writer.write(answer)

    async def main() -> None:
        async with scripted_upstream(serve, MARK.encode()) as (port, calls):
            edit = (
                raw_openai_upstream(port) if protocol == "openai" else raw_anthropic_upstream(port)
            )
            judge = "oa-raw" if protocol == "openai" else "an-raw"
            async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
                ask = [{"role": "user", "content": f"Grade this answer: Paris. {MARK}"}]
                assert await judge_caller(sc.services, judge)(ask, "default") == TEXT
                (row,) = await _own_calls(sc, "judge")
                assert calls[0] == 1
        _check(row, case, JUDGE_MAX_TOKENS * PRICE_OUT / 1e6)

    asyncio.run(main())


SHADOW = '\n[shadow]\nchallengers = ["oa-raw"]\nsample_rate = 1.0\nbudget_usd = 10.0\n'
MAX_TOKENS = 2000  # the shadow call's worst case: the client's limit


@pytest.mark.parametrize("case", list(CASES))
def test_a_shadow_answer_without_its_counts(tmp_path: Path, case: str) -> None:
    answer = _answer("openai", *CASES[case])

    async def serve(writer: asyncio.StreamWriter) -> None:
        writer.write(answer)

    async def main() -> None:
        async with scripted_upstream(serve, MARK.encode()) as (port, calls):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(tmp_path, edit_config=lambda t: edit(t) + SHADOW) as sc:
                ask = f"Name the capital of France. {MARK}"
                r = await sc.client.post(
                    "/v1/chat/completions", headers=sc.auth,
                    json={"model": "auto", "max_tokens": MAX_TOKENS,
                          "messages": [{"role": "user", "content": ask}]},
                )  # fmt: skip
                assert r.status_code == 200, r.text
                (row,) = await _own_calls(sc, "shadow")
                assert calls[0] == 1 and row["chosen_model"] == "oa-raw", row
        _check(row, case, MAX_TOKENS * PRICE_OUT / 1e6)

    asyncio.run(main())
