"""`POST /v1/feedback` had no rate limit: a key could write grades as fast as it could send
them, each a store write that moves the learned policy, at no cost to it. Each key now has a
bucket of `auth.feedback_per_minute` grades (feedback_limit.py); past it a grade is OpenAI's
429 (`rate_limit_exceeded`) with `retry-after`, before its body is read. Another key is not
held back, and the bucket refills at its rate."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from arbiter import config
from arbiter.errors import ConfigError
from arbiter.feedback_limit import KeyRate
from tests.inproc import sidecar_in_process
from tests.test_config import ENV, EXAMPLE

CHAT = [{"role": "user", "content": "Summarize: the cat sat on the mat."}]


def _per_minute(n: str) -> Callable[[str], str]:
    """The config's [auth] with `feedback_per_minute = n` (the demo's 0, or the default)."""

    def edit(text: str) -> str:
        text = re.sub(r"(?m)^feedback_per_minute = .*\n", "", text)
        return re.sub(r"(?m)^\[auth\]$", f"[auth]\nfeedback_per_minute = {n}", text)

    return edit


def test_a_key_past_its_rate_is_a_429_with_retry_after(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_per_minute("3")) as sc:
            r = await sc.client.post(
                "/v1/chat/completions", json={"model": "auto", "messages": CHAT}, headers=sc.auth
            )
            decision = r.headers["x-arbiter-decision-id"]
            grade = {"decision_id": decision, "score": 1.0}
            for _ in range(3):
                r = await sc.client.post("/v1/feedback", json=grade, headers=sc.auth)
                assert r.status_code == 200, r.text
            r = await sc.client.post("/v1/feedback", json=grade, headers=sc.auth)
            assert r.status_code == 429, r.text
            err = r.json()["error"]
            assert err["code"] == "rate_limit_exceeded" and "feedback_per_minute" in err["message"]
            assert int(r.headers["retry-after"]) >= 1 and r.headers["x-should-retry"] == "true"
            # another key of the tenant has its own bucket
            made = await sc.client.post(
                "/arbiter/admin/keys", json={"tenant": "default"}, headers=sc.admin
            )
            other = {"authorization": f"Bearer {made.json()['key']}"}
            r = await sc.client.post("/v1/feedback", json=grade, headers=other)
            assert r.status_code == 200, r.text

    asyncio.run(main())


def test_the_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    rate = KeyRate(lambda: 60, clock=lambda: now[0])  # one a second, a burst of 60
    assert all(rate.take("k") is None for _ in range(60))
    wait = rate.take("k")
    assert wait is not None and 0.9 < wait <= 1.0
    now[0] += 1.0
    assert rate.take("k") is None and rate.take("k") is not None
    assert rate.take("other") is None
    assert KeyRate(lambda: 0).take("k") is None  # 0: no limit


@pytest.mark.parametrize("bad", ['"600"', "-1", "1.5", "true", "1_000_000_001"])
def test_the_key_parses_strictly(bad: str) -> None:
    text = EXAMPLE.read_text()
    with pytest.raises(ConfigError) as info:
        config.loads(_per_minute(bad)(text), env=ENV)
    assert "feedback_per_minute" in str(info.value.problems), info.value.problems
    assert config.loads(text, env=ENV).auth.feedback_per_minute == 6000
    assert config.loads(_per_minute("0")(text), env=ENV).auth.feedback_per_minute == 0
