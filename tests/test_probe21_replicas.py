"""probe21: two real `arbiter serve` replicas on one PostgreSQL database agree on a model's
learned latency within the store's sync interval (issue 19: "keep it in the shared state so
replicas agree").

Replica A answers oa-1's calls (the scripted upstream delays each by 150 ms); replica B has
seen none. B's prediction for oa-1 (`x-arbiter-predicted-latency-ms`, read on a call it routes
to oa-1 under an SLO) starts at the prior (2 s to the first token: far above 150 ms) and must
come to A's within `store.sync_interval_ms` (300 ms here), read at most three times 450 ms
apart (with sync_interval_ms 9000 the same test fails: B's own instant calls alone read oa-1
as a few ms)."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.conftest import Sidecar
from tests.fault_upstream import fault_upstream
from tests.pg import empty_store_url
from tests.probe19a_harness import Timeouts, config

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

SLOW = "Say hello. [[fault:oa-1=delay@0.15]]"
FAST = "Say hello."
HEADERS = {"x-arbiter-max-latency-ms": "60000"}


def _predicted(gpt: openai.OpenAI, text: str = SLOW) -> float:
    """oa-1's predicted total (ms) as the replica routed this call, before making it (the
    tenant may use oa-1 alone; a named model's call carries no prediction)."""
    raw = gpt.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}], extra_headers=HEADERS
    )
    assert raw.headers["x-arbiter-model"] == "oa-1"
    return float(raw.headers["x-arbiter-predicted-latency-ms"])


def test_two_replicas_agree_on_a_models_latency_within_the_sync_interval(tmp_path: Path) -> None:
    timeouts = Timeouts(first_byte_s=3.0, total_s=4.0, deadline_s=5.0)
    with fault_upstream() as up, empty_store_url("postgres", tmp_path / "unused.db") as url:
        text = config(up.port, tmp_path / "unused.db", timeouts)
        text = text.replace(f'url = "sqlite:///{tmp_path / "unused.db"}"', f'url = "{url}"')
        text = text.replace(
            "flush_interval_ms = 20", "flush_interval_ms = 20\nsync_interval_ms = 300"
        )
        assert url in text and "sync_interval_ms = 300" in text
        (tmp_path / "a.toml").write_text(text + '[tenants.one]\nallowed_models = ["oa-1"]\n')
        a = Sidecar(tmp_path / "a.toml").start()
        b = Sidecar(tmp_path / "a.toml").start()
        try:
            key = str(a.create_key("one")["key"])  # one store: B knows the key too
            ga = openai.OpenAI(api_key=key, base_url=a.base_url, max_retries=0, timeout=10)
            gb = openai.OpenAI(api_key=key, base_url=b.base_url, max_retries=0, timeout=10)
            with ga, gb:
                cold = _predicted(gb, FAST)  # B: the prior, before any call of oa-1 anywhere
                for _ in range(12):
                    learned = _predicted(ga)
                learned = _predicted(ga)
                assert learned < cold / 3, (learned, cold)  # A learned 150 ms calls
                # B's reads answer at once: on its own, B would read oa-1 as ~1 ms after one
                # of them (a discriminating read: a slow read would teach B A's speed alone)
                reads = []
                for _ in range(3):
                    time.sleep(0.45)  # past a sync tick (300 ms)
                    reads.append(_predicted(gb, FAST))
                    if abs(reads[-1] - learned) <= 0.35 * learned:
                        break
                else:
                    raise AssertionError(f"B read {reads} ms, A {learned} ms (cold {cold})")
        finally:
            a.stop()
            b.stop()
