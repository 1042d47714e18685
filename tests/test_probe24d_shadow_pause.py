"""probe24d: shadow traffic obeys an upstream's Retry-After and a model's circuit. oa-2 is a
challenger (shadow traffic only, every routed answer copied to it); its upstream answers 429 with
Retry-After: 30.
Clients' routed requests go to oa-1 and get their answers (nothing of the shadow call reaches
them). The first shadow call's 429 pauses oa-2, as a served call's does: the next requests make
no shadow call to it while the pause holds (skipped as `upstream_paused`, counted on
/arbiter/challengers) and the failed call is recorded, at no charge (a whole error answer).
Before, every routed request sent oa-2 another call during its pause: a rate-limited upstream
kept getting Arbiter's own traffic, which spends the limit the clients' calls share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fault_upstream import fault_upstream
from tests.probe24d_rig import config_text, serve, until

pytestmark = pytest.mark.timeout(120)

SHADOW = """
[shadow]
challengers = ["oa-2"]
sample_rate = 1.0
budget_usd = 10.0
auto_promote = false
max_in_flight = 64
"""


def test_shadow_calls_wait_out_a_challengers_retry_after(tmp_path: Path) -> None:
    with fault_upstream() as up:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(config_text(up.port, tmp_path) + SHADOW)
        with serve(cfg) as s:
            text = "Say hello. [[fault:oa-2=status@429:30]]"
            first = s.gpt.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": text}], max_tokens=16
            )
            assert first.headers["x-arbiter-model"] == "oa-1"
            until(lambda: [c for c in up.calls if c[1] == "oa-2"], "the first shadow call")

            def failed_shadow() -> list[dict[str, object]]:
                rows = s.get("/arbiter/decisions?limit=100").json()["data"]
                return [r for r in rows if r["mode"] == "shadow" and r["status"] == "failed"]

            (row,) = until(failed_shadow, "the failed shadow call recorded")
            shadow_id = row["id"]
            assert row["chosen_model"] == "oa-2" and row["cost_usd"] == 0, row
            for _ in range(5):
                raw = s.gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=[{"role": "user", "content": text}], max_tokens=16
                )
                assert raw.http_response.status_code == 200
                assert raw.headers["x-arbiter-model"] == "oa-1"
            challengers = s.get("/arbiter/challengers").json()
            calls = [c for c in up.calls if c[1] == "oa-2"]
            assert len(calls) == 1, (calls, challengers)
            skipped = challengers.get("skipped", {})
            assert skipped.get("upstream_paused") == 5, (challengers, shadow_id)


def test_a_challenger_failing_every_call_has_its_circuit_opened(tmp_path: Path) -> None:
    """oa-2, a challenger, answers every call 500 (no Retry-After). Its failed shadow calls
    count against its circuit, as a served call's would (failure_threshold 3): after the third
    the circuit opens (a circuit_open alert) and the next routed requests send it nothing
    (skip upstream_paused) until the cool-down (15 s). Before, every routed request sent it
    another call that failed (8 of 8)."""
    with fault_upstream() as up:
        cfg = tmp_path / "arbiter.toml"
        text = config_text(up.port, tmp_path).replace(
            "failure_threshold = 1000", "failure_threshold = 3"
        )
        assert "failure_threshold = 3" in text
        cfg.write_text(text + SHADOW)
        with serve(cfg) as s:
            text = "Say hello. [[fault:oa-2=status@500]]"
            for i in range(8):
                raw = s.gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=[{"role": "user", "content": text}], max_tokens=16
                )
                assert raw.headers["x-arbiter-model"] == "oa-1"
                # each shadow call ends before the next request (the count is the breaker's)
                until(
                    lambda n=i: (
                        sum(s.get("/arbiter/challengers").json()["skipped"].values()) >= n + 1
                    ),
                    "the shadow call's outcome",
                )
            calls = [c for c in up.calls if c[1] == "oa-2"]
            skipped = s.get("/arbiter/challengers").json()["skipped"]
            assert len(calls) == 3, (calls, skipped)
            assert skipped.get("upstream_paused") == 5, skipped
            opened = until(lambda: s.alerts("circuit_open", "oa-2"), "the circuit_open alert")
            assert len(opened) == 1, opened
