"""An upstream's reported cost was bounded only by a fixed $10,000 a call: a report 1000x what
the call could cost at the model's prices became the request's spend. It is now judged per
call (cost_report.py): past 100x both the usage's price and the call's worst case it counts
as not reported (priced from usage, `cost_source` "registry"); a plausible one (a provider
dearer than the registry) is still believed. Chat and /v1/completions, against the sim."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from arbiter.config import ModelSettings
from arbiter.cost_report import CEILING, vetted
from arbiter.types import Usage
from tests.inproc import InProcess, recorded_decision, run_with_claude

M = ModelSettings("m", "u", price_in_per_mtok=1.0, price_out_per_mtok=2.0)


def test_a_report_past_the_ceiling_of_usage_and_worst_case_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    usage = Usage(1000, 500, reported_cost_usd=None)
    priced = M.cost_usd(1000, 500)  # $0.002
    believable = Usage(1000, 500, reported_cost_usd=priced * 3)
    assert vetted(M, believable, None) is believable
    absurd = Usage(1000, 500, reported_cost_usd=9000.0)  # under the old fixed $10,000 bound
    with caplog.at_level(logging.WARNING, logger="arbiter.cost_report"):
        out = vetted(M, absurd, lambda: M.cost_usd(1000, 4096))
    assert out is not None and out.reported_cost_usd is None and out.prompt_tokens == 1000
    assert "counted as not reported" in caplog.text
    assert vetted(M, usage, None) is usage  # nothing reported: nothing to judge


def test_a_report_without_usage_is_judged_by_the_calls_worst_case() -> None:
    worst = M.cost_usd(200_000, 8000)  # a long context on this model: $0.216
    real = Usage(0, 0, reported_cost_usd=worst * 0.9)
    assert vetted(M, real, lambda: worst) is real  # an expensive call, believed
    assert vetted(M, Usage(0, 0, reported_cost_usd=worst * CEILING * 2), lambda: worst) is not None
    out = vetted(M, Usage(0, 0, reported_cost_usd=worst * CEILING * 2), lambda: worst)
    assert out is not None and out.reported_cost_usd is None
    # a model priced 0 and no usage: nothing to judge by, the report stands
    free = ModelSettings("f", "u", price_in_per_mtok=0.0, price_out_per_mtok=0.0)
    kept = Usage(0, 0, reported_cost_usd=0.5)
    assert vetted(free, kept, lambda: 0.0) is kept


def test_the_worst_case_is_computed_only_when_the_usage_is_not_enough() -> None:
    def never() -> float:
        raise AssertionError("the worst case was computed for a believable report")

    plain = Usage(1000, 500, reported_cost_usd=M.cost_usd(1000, 500))
    assert vetted(M, plain, never) is plain


@pytest.mark.parametrize("factor", [3.0, 5000.0])
def test_an_absurd_reported_cost_is_not_spend_on_chat_or_completions(
    tmp_path: Path, factor: float
) -> None:
    async def body(sc: InProcess) -> None:
        async with httpx.AsyncClient(base_url=sc.sim.root_url) as sim:
            r = await sim.post(
                "/_sim/control",
                json={"model": "sim-small", "report_cost": "body",
                      "reported_price_factor": factor},
            )  # fmt: skip
            assert r.status_code == 200, r.text
        m = sc.services.registry["sim-small"]
        for path, payload in [
            ("/v1/chat/completions", {"model": "sim-small", "max_tokens": 20,
                                      "messages": [{"role": "user", "content": "hi there"}]}),
            ("/v1/completions", {"model": "sim-small", "max_tokens": 20, "prompt": "hi there"}),
        ]:  # fmt: skip
            r = await sc.client.post(path, json=payload, headers=sc.auth)
            assert r.status_code == 200, r.text
            usage = r.json()["usage"]
            priced = m.cost_usd(usage["prompt_tokens"], usage["completion_tokens"])
            row = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
            if factor > CEILING:
                assert row["cost_usd"] == pytest.approx(priced), (path, row["cost_usd"], priced)
                assert row["cost_source"] == "registry", path
            else:
                assert row["cost_usd"] == pytest.approx(priced * factor, rel=1e-6), path
                assert row["cost_source"] == "upstream", path

    run_with_claude(tmp_path, body)
