"""An outsider's probe of the 429 a spent cap answers: it said `x-should-retry: false` and no
`retry-after`, so a client that is no official SDK learnt that this request cannot pass but not
when one can (the message's text said it). A daily or monthly cap's refusal now carries
`retry-after`: the seconds until its window resets; the official SDKs, which obey
`x-should-retry` first, still do not retry (each raises at once, one request sent), and a total
cap, which never resets, sends none. Real sidecar and sim processes, the official `openai` and
`anthropic` SDKs as clients."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import openai
import pytest

from arbiter.budget import window_bounds
from arbiter.offline.demo import demo_settings, sim_config
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar, start_sim

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("retry18m")
    (tmp / "sim.toml").write_text(sim_config())
    sim, root = start_sim(tmp / "sim.toml")
    doc = demo_settings(f"{root}/v1", tmp / "a.db")
    doc["routing"]["judge_sample_rate"] = 0.0
    tiny = 1e-9  # no call fits: the spend alone (0) plus one call passes it
    doc["budgets"] = {"caps": [
        {"scope": "tenant", "name": "daily", "limit_usd": tiny, "window": "day"},
        {"scope": "tenant", "name": "monthly", "limit_usd": tiny, "window": "month"},
        {"scope": "tenant", "name": "total", "limit_usd": tiny, "window": "total"},
    ]}  # fmt: skip
    (tmp / "a.toml").write_text(to_toml(doc))
    s = Sidecar(tmp / "a.toml").start()
    yield s
    s.stop()
    sim.stop()


@pytest.mark.parametrize("window", ["day", "month", "total"])
def test_a_spent_caps_429_says_when_it_resets_and_the_sdks_do_not_retry(
    sidecar: Sidecar, window: str
) -> None:
    tenant = {"day": "daily", "month": "monthly", "total": "total"}[window]
    key = str(sidecar.create_key(tenant)["key"])
    # the clients closed at the end: an unclosed one's socket fails the test (gc_per_test.py)
    with (
        openai.OpenAI(api_key=key, base_url=sidecar.base_url, max_retries=2) as gpt,
        anthropic.Anthropic(api_key=key, base_url=sidecar.root_url, max_retries=2) as claude,
    ):
        started = time.monotonic()
        with pytest.raises(openai.RateLimitError) as from_openai:
            gpt.chat.completions.create(model="sim-small", messages=MESSAGES, max_tokens=20)  # type: ignore[arg-type]
        with pytest.raises(anthropic.RateLimitError) as from_anthropic:
            claude.messages.create(model="sim-small", messages=MESSAGES, max_tokens=20)  # type: ignore[arg-type]
    assert time.monotonic() - started < 10  # no SDK sat out the retry-after, nor retried
    for err in (from_openai.value, from_anthropic.value):
        headers = err.response.headers
        assert headers["x-should-retry"] == "false"
        if window == "total":
            assert "retry-after" not in headers
            continue
        now = time.time()
        # the window's end as of now or, across a boundary mid-test, as of the request
        ends = {window_bounds(window, t)[1] for t in (now - 10, now)}
        assert any(abs(int(headers["retry-after"]) - (e - now)) <= 10 for e in ends), headers
    assert from_openai.value.code == "budget_exceeded"
    assert from_anthropic.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    decisions = sidecar.admin("GET", f"/arbiter/decisions?tenant={tenant}").json()["data"]
    assert decisions == []  # refused before any call: nothing retried into the upstream
