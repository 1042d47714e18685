"""A cheap model's answer that ended on a word meaning no finished answer (vLLM's "abort") is an
upstream failure for every caller of a whole chat call, not only the client's: a cascade does
not keep it (nor judge it: it escalates at once, and has no weak answer to fall back on), and a
shadow call that got it is recorded as a failed call, never graded as the challenger's answer.
The control in each test is the same cheap model ending on "stop": the cascade's judge is
called and the shadow answer graded, so the counts checked can move."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.adversarial.hostile_upstream import keep_alive_upstream, response
from tests.inproc import InProcess, recorded_decision, sidecar_in_process
from tests.sdk_clients import sim_requests

WEAK = "WEAK ANSWER FROM THE CHEAP MODEL"
ASK = {"model": "auto", "messages": [{"role": "user", "content": "Say something kind."}]}


def _answer(finish: str) -> bytes:
    return orjson.dumps({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": WEAK},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    })  # fmt: skip


def _tiny_on(
    port: int, routing: str, extra: str = "", *, judged: float = 0.0
) -> Callable[[str], str]:
    """sim-tiny served by the scripted upstream at `port`; `routing` lines added, the share of
    answers the judge grades `judged`."""

    def edit(text: str) -> str:
        text = text.replace(
            '[models.sim-tiny]\nupstream = "sim"', '[models.sim-tiny]\nupstream = "raw"'
        ).replace("judge_sample_rate = 1.0\n", f"judge_sample_rate = {judged}\n{routing}")
        return (
            text
            + extra
            + (
                f'\n[upstreams.raw]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                'api_key_env = "ARBITER_DEMO_SIM_KEY"\n'
            )
        )

    return edit


async def _model_calls(sc: InProcess, model: str) -> int:
    await sim_requests(sc)  # background grading and shadow calls done
    async with httpx.AsyncClient() as c:
        r = await c.get(sc.sim.base_url.removesuffix("/v1") + "/_sim/stats")
    return int(r.json()["models"].get(model, {}).get("requests", 0))


CASCADE = (
    'cascade_tasks = ["chat"]\ncascade_all = true\ncascade_first_models = ["sim-tiny"]\n'
    'cascade_judge_model = "judge"\ncascade_judge_gain = { chat = [5.0, -10.0] }\n'
    "explore = 0.0\n"
)


@pytest.mark.parametrize("finish", ["abort", "stop"])
def test_a_cascade_neither_keeps_nor_judges_an_unfinished_cheap_answer(
    tmp_path: Path, finish: str
) -> None:
    async def answer(writer: asyncio.StreamWriter, _: bytes) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: application/json", _answer(finish)))

    async def main() -> None:
        async with (
            keep_alive_upstream(answer) as (port, calls),
            sidecar_in_process(tmp_path, edit_config=_tiny_on(port, CASCADE)) as sc,
        ):
            for _ in range(8):  # until the cascade tries sim-tiny first
                r = await sc.client.post("/v1/chat/completions", json=ASK, headers=sc.auth)
                assert r.status_code == 200, r.text
                row = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
                if row["attempts"] and row["attempts"][0]["model"] == "sim-tiny":
                    break
            else:
                raise AssertionError("the cascade never tried sim-tiny first")
            judged = await _model_calls(sc, "judge")
            first = row["attempts"][0]
            if finish == "stop":  # the control: a finished cheap answer is judged
                assert judged >= 1 and first["ok"], row
                return
            assert not first["ok"] and first["error"] == "upstream_error", row
            assert r.headers["x-arbiter-model"] != "sim-tiny", row
            assert WEAK not in r.text and r.headers["x-arbiter-cascade"] == "escalated", row
            assert judged == 0, "the unfinished answer was sent to the judge"
            assert calls[0] >= 1

    asyncio.run(main())


SHADOW = '\n[shadow]\nchallengers = ["sim-tiny"]\nsample_rate = 1.0\n'


@pytest.mark.parametrize("finish", ["abort", "stop"])
def test_a_shadow_call_that_ended_unfinished_is_a_failed_call_not_a_grade(
    tmp_path: Path, finish: str
) -> None:
    async def answer(writer: asyncio.StreamWriter, _: bytes) -> None:
        writer.write(response(b"200 OK\r\ncontent-type: application/json", _answer(finish)))

    async def main() -> None:
        async with keep_alive_upstream(answer) as (port, calls):
            edit = _tiny_on(port, "explore = 0.0\n", SHADOW, judged=1.0)
            async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
                r = await sc.client.post("/v1/chat/completions", json=ASK, headers=sc.auth)
                assert r.status_code == 200 and r.headers["x-arbiter-model"] != "sim-tiny"
                await sim_requests(sc)  # grading and shadow calls done
                assert calls[0] == 1, "one shadow call to the challenger"
                listed = await sc.client.get("/arbiter/decisions?limit=20", headers=sc.admin)
                rows = [d for d in listed.json()["data"] if d["chosen_model"] == "sim-tiny"]
                assert all(d["mode"] == "shadow" for d in rows), rows
                assert len(rows) == 1, listed.json()
                await asyncio.sleep(0.3)  # the recorder's batch: the grades
                shadow = await recorded_decision(sc, rows[0]["id"])
                served = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
                assert served["grades"], served  # every answer is judged here (the rate is 1)
                if finish == "stop":  # the control: a finished shadow answer is graded
                    assert shadow["status"] == "ok" and shadow["grades"], shadow
                    return
                assert shadow["status"] == "failed", shadow
                assert not shadow["grades"], "the unfinished shadow answer was graded"

    asyncio.run(main())
