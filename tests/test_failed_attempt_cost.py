"""money20: what a failed upstream attempt costs, and what class of error a cut answer is, through
the official SDKs against a real `arbiter serve` (tests/probe19a_harness.py for the rig and the
books every cell checks: spend = the decision's cost = /metrics' cost, nothing left reserved).

1. An attempt answered with a whole error (a 5xx status and the provider's own error body, no
   output) was charged its worst case: two 500s took ~$4.12 of a cap where the upstream billed
   $0 (probe19a). It now costs $0 (`attempts[].billed: false`, /metrics'
   arbiter_failed_upstream_calls_total{billed="no"}); a call that may have been billed (an error
   body cut off, a proxy's HTML page, a 504, a timeout, a stream cut mid-body) keeps the
   conservative charge (`billed: true`, `billed="maybe"`).
2. A non-2xx answer whose body broke off was a 503 "connection failed", and a stream that broke
   mid-body a "connection failed" error event: both are now the 502 "malformed answer" a cut 2xx
   answer is, in each surface's shape.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.probe19a_harness import Rig, check_books, rig_fixture, rigs_fixture  # noqa: F401  (the fixtures)

MESSAGES = [{"role": "user", "content": "Say hello to the probe."}]


def _openai_error(rig: Rig, fault: str, model: str, stream: bool) -> openai.APIStatusError:
    rig.up.reset(oa_1=fault)
    with pytest.raises(openai.APIStatusError) as info:
        rig.gpt.chat.completions.create(
            model=model, messages=MESSAGES, stream=stream,  # type: ignore[call-overload]
        )  # fmt: skip
    return info.value


def _anthropic_error(rig: Rig, fault: str, stream: bool) -> anthropic.APIStatusError:
    rig.up.reset(an_1=fault)
    with pytest.raises(anthropic.APIStatusError) as info:
        rig.claude.messages.create(
            model="an-1", max_tokens=64, messages=MESSAGES, stream=stream,  # type: ignore[call-overload]
        )  # fmt: skip
    return info.value


def _failed(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in record["attempts"] if not a["ok"]]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("fault", ["status@500", "status@529"])
def test_a_whole_error_answer_costs_nothing(rig: Rig, fault: str, stream: bool) -> None:
    before = rig.snapshot()
    err = _openai_error(rig, fault, "oa-1", stream)
    assert err.status_code == 503, err.response.text
    record = check_books(rig, before, err.response.headers["x-arbiter-decision-id"], "failed",
                         whole=True)  # fmt: skip
    failed = _failed(record)
    assert len(failed) == 2 and all(a["billed"] is False for a in failed), record  # 1 retry
    assert record["cost_usd"] == 0.0, record
    # the same through Anthropic's surface, on a model served over Anthropic's API
    before = rig.snapshot()
    aerr = _anthropic_error(rig, fault, stream)
    record = check_books(rig, before, aerr.response.headers["x-arbiter-decision-id"], "failed",
                         whole=True)  # fmt: skip
    assert all(a["billed"] is False for a in _failed(record)) and record["cost_usd"] == 0, record


def test_failover_after_whole_errors_costs_only_the_answer(rig: Rig) -> None:
    """(Whole answers only: a failed oa-1 drops in `auto`'s ranking after this; streams are
    checked named, above.)"""
    rig.up.reset(oa_1="status@500")
    before = rig.snapshot()
    raw = rig.gpt.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
    assert raw.headers["x-arbiter-model"] == "oa-2", raw.headers
    record = check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=True)
    assert [a["billed"] for a in _failed(record)] == [False, False], record
    # exactly the answer's bill: not the two failed calls' worst cases on top of it
    assert record["cost_usd"] == pytest.approx(rig.billed_usd(), rel=1e-9), record


# (streamed: the cut body only; the others read the same whole or streamed, before any byte)
@pytest.mark.parametrize(
    ("fault", "stream"),
    [("cuterror@500", False), ("cuterror@500", True), ("htmlerror@502", False),
     ("status@504", False)],
)  # fmt: skip
def test_an_error_that_may_have_been_billed_keeps_its_charge(
    rig: Rig, fault: str, stream: bool
) -> None:
    before = rig.snapshot()
    err = _openai_error(rig, fault, "oa-1", stream)
    body = err.response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    record = check_books(rig, before, err.response.headers["x-arbiter-decision-id"], "failed",
                         whole=True)  # fmt: skip
    failed = _failed(record)
    assert failed and all(a["billed"] is True for a in failed), record
    assert record["cost_usd"] > 0, record  # what the calls may have cost
    if fault.startswith("cuterror"):  # the upstream answered; its answer broke off: a 502
        assert err.status_code == 502, body
        assert body["error"]["code"] == "upstream_error", body
        assert "malformed" in body["error"]["message"], body
        assert "connection failed" not in body["error"]["message"], body
        aerr = _anthropic_error(rig, fault, stream)
        assert aerr.status_code == 502, aerr.response.text
        abody = aerr.response.json()
        assert abody["type"] == "error" and abody["error"]["type"] == "api_error", abody
        assert "malformed" in abody["error"]["message"], abody


def test_a_stream_broken_mid_body_is_a_cut_answer_not_a_lost_connection(rig: Rig) -> None:
    rig.up.reset(oa_1="reset@3")  # two words out, then the connection drops
    before = rig.snapshot()
    raw = rig.gpt.chat.completions.with_raw_response.create(
        model="oa-1", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    with pytest.raises(openai.APIError) as info:
        for _ in raw.parse():
            pass
    assert isinstance(info.value.body, dict), info.value.body
    assert info.value.body.get("code") == "upstream_error", info.value.body
    assert "malformed" in info.value.message, info.value.message
    record = check_books(rig, before, raw.headers["x-arbiter-decision-id"], "failed", whole=False)
    assert [a["billed"] for a in _failed(record)] == [True], record
    # Anthropic's surface: an `error` event of type api_error (a 502), not overloaded_error
    rig.up.reset(an_1="reset@4")
    before = rig.snapshot()
    resp = rig.claude.messages.with_raw_response.create(
        model="an-1", max_tokens=64, messages=MESSAGES, stream=True,  # type: ignore[arg-type]
    )  # fmt: skip
    with pytest.raises(anthropic.APIError) as ainfo:
        for _ in resp.parse():
            pass
    body = ainfo.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "api_error", body
    assert "malformed" in body["error"]["message"], body
    check_books(rig, before, resp.headers["x-arbiter-decision-id"], "failed", whole=False)
