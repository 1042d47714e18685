"""Server tools billed apart from their tokens (server_tool_worst.fees, upstream/anthropic.py):
web fetches counted from `server_tool_use.web_fetch_requests` at `price_web_fetch_usd` (0 by
default: Anthropic bills a fetch's content as tokens), a code execution container session
(`code_execution_minutes` at `price_container_hour_usd`) per call offered the tool, none where a
gateway's usage counted no code execution or a filtering search makes it free; each held in
the worst case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arbiter import config
from arbiter.config import ModelSettings
from arbiter.errors import ConfigError
from arbiter.offline.demo import demo_settings
from arbiter.server_tool_worst import container_sessions, fees
from arbiter.toml_text import to_toml
from arbiter.upstream.anthropic import parse_usage
from arbiter.worst_case import CallWorst
from tests.conftest import ENV

M = ModelSettings("m", "u", 3.0, 15.0, context_window=10_000, price_web_fetch_usd=0.002)
CODE = {"type": "code_execution_20250825", "name": "code_execution"}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 3}
SESSION = 0.05 * 5 / 60


def _body(*tools: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "hi"}], "tools": list(tools)}


def test_fetches_read_from_usage_and_priced() -> None:
    u = parse_usage({
        "input_tokens": 1000, "output_tokens": 10,
        "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 3},
    })  # fmt: skip
    assert (u.web_searches, u.web_fetches, u.code_executions) == (1, 3, None)
    assert M.usage_cost(u) == pytest.approx((1000 * 3.0 + 10 * 15.0) / 1e6 + 0.01 + 3 * 0.002)
    # Anthropic's default: no fee per fetch
    plain = ModelSettings("p", "u", 3.0, 15.0)
    assert plain.usage_cost(u) == pytest.approx((1000 * 3.0 + 10 * 15.0) / 1e6 + 0.01)
    counted = parse_usage({"input_tokens": 1, "server_tool_use": {"code_execution_requests": 0}})
    assert counted.code_executions == 0


def test_a_code_execution_session_billed_unless_counted_none_or_free() -> None:
    assert container_sessions(_body(CODE)) == 1
    assert container_sessions(_body(FETCH)) == 0
    # web search / fetch that filter with code make code execution free (2026-02-09 on)
    assert container_sessions(_body(CODE, {"type": "web_search_20260209"})) == 0
    assert container_sessions(_body(CODE, {"type": "web_fetch_20260209"})) == 0
    assert container_sessions(_body(CODE, {"type": "web_search_20250305"})) == 1
    assert fees(_body(CODE), M) == pytest.approx(SESSION)
    assert fees(_body(CODE), M, 2) == pytest.approx(SESSION)
    assert fees(_body(CODE), M, 0) == 0.0  # a gateway's usage says none ran
    hour = ModelSettings("h", "u", 3.0, 15.0, code_execution_minutes=60.0)
    assert fees(_body(CODE), hour) == pytest.approx(0.05)


def test_worst_case_holds_fetch_fees_and_the_session() -> None:
    worst = CallWorst({"m": M}.__getitem__, _body(CODE), 100, None, 50)
    tokens = ((50 + 9 * 10_000) * 3.0 + 100 * 15.0) / 1e6  # code: the window per later read
    assert worst("m") == pytest.approx(tokens + SESSION)
    assert worst.capped("m", 100) == pytest.approx((50 * 3.0 + 100 * 15.0) / 1e6)
    fetching = CallWorst({"m": M}.__getitem__, _body(FETCH), 100, None, 50)
    # three fetches without max_content_tokens: four reads, the window each later one
    want = ((50 + 3 * 10_000) * 3.0 + 100 * 15.0) / 1e6 + 3 * 0.002
    assert fetching("m") == pytest.approx(want)


def test_tool_fee_keys_strictly_parsed(tmp_path: Path) -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "a.db")
    tiny = doc["models"]["sim-tiny"]
    for key, bad, match in (
        ("price_web_fetch_usd", -1.0, "prices must be in"),
        ("price_container_hour_usd", -0.05, "prices must be in"),
        ("code_execution_minutes", 1e9, "code_execution_minutes must be in"),
        ("code_execution_minutes", "five", "code_execution_minutes"),
    ):
        with pytest.raises(ConfigError, match=match):
            config.loads(
                to_toml({**doc, "models": {**doc["models"], "sim-tiny": {**tiny, key: bad}}}),
                env=ENV,
            )
    tiny.update(price_web_fetch_usd=0.001, price_container_hour_usd=0.1, code_execution_minutes=10)
    m = config.loads(to_toml(doc), env=ENV).models["sim-tiny"]
    assert (m.price_web_fetch_usd, m.container_session_usd) == (0.001, pytest.approx(0.1 / 6))
