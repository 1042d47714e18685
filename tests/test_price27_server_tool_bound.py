"""A server tool loop's later reads held at what its tools can add (server_tool_worst.loop_read):
the prompt, the output limit and each search's `web_search_result_tokens` / each fetch's
`max_content_tokens`, never past the context window; the window where a tool's results have no
bound (code execution, MCP, a fetch without `max_content_tokens`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arbiter import config
from arbiter.config import ModelSettings
from arbiter.errors import ConfigError
from arbiter.offline.demo import demo_settings
from arbiter.server_tool_worst import iterations, results_bound
from arbiter.toml_text import to_toml
from arbiter.worst_case import CallWorst
from tests.conftest import ENV

# Claude Opus 4.6's prices and window: one search held at a second read of the whole window
# was $1.00 of input alone (200K at $5/M), past a $1 key's cap
OPUS = ModelSettings("opus", "u", 5.0, 25.0, context_window=200_000)
SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2}
CODE = {"type": "code_execution_20250825", "name": "code_execution"}
PROMPT, OUT = 100, 1_000


def _worst(*tools: dict[str, Any], model: ModelSettings = OPUS) -> float:
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": list(tools)}
    return CallWorst({model.name: model}.__getitem__, body, OUT, None, PROMPT)(model.name)


def _usd(input_tokens: int, searches: int = 0, m: ModelSettings = OPUS) -> float:
    return (input_tokens * m.price_in_per_mtok + OUT * m.price_out_per_mtok) / 1e6 + (
        searches * m.price_web_search_usd
    )


def test_one_search_holds_its_results_not_the_window() -> None:
    """One search: the prompt, then one read of the prompt, the output and 20,000 tokens of
    results (~$0.14 in all, not ~$1.03); a $1 key can afford it."""
    want = _usd(PROMPT + (PROMPT + OUT + 20_000), searches=1)
    assert _worst(SEARCH) == pytest.approx(want)
    assert _worst(SEARCH) < 0.15


def test_results_past_the_window_are_held_at_the_window() -> None:
    many = {**SEARCH, "max_uses": 9}  # 9 x 20,000 results: each read under the 200K window
    assert _worst(many) == pytest.approx(_usd(PROMPT + 9 * (PROMPT + OUT + 180_000), 9))
    small = ModelSettings("s", "u", 5.0, 25.0, context_window=50_000)
    assert _worst(many, model=small) == pytest.approx(_usd(PROMPT + 9 * 50_000, 9, small), rel=1e-9)


def test_fetches_bounded_by_max_content_tokens_else_the_window() -> None:
    bounded = {**FETCH, "max_content_tokens": 5_000}
    assert iterations({"tools": [SEARCH, bounded]}, 10) == 4  # a read after each use
    # a version that filters its results with code may run code between them: the loop's limit
    assert iterations({"tools": [{**SEARCH, "type": "web_search_20260209"}]}, 10) == 10
    assert iterations({"tools": [{**FETCH, "type": "web_fetch_20260209"}]}, 10) == 10
    assert results_bound({"tools": [SEARCH, bounded]}, 10, 20_000) == 20_000 + 2 * 5_000
    assert _worst(SEARCH, bounded) == pytest.approx(_usd(PROMPT + 3 * (PROMPT + OUT + 30_000), 1))
    # a fetch without max_content_tokens, code execution, MCP: no bound but the window
    assert results_bound({"tools": [SEARCH, FETCH]}, 10, 20_000) is None
    assert results_bound({"tools": [SEARCH, CODE]}, 10, 20_000) is None
    mcp = {"tools": [SEARCH], "mcp_servers": [{"type": "url", "url": "https://x"}]}
    assert results_bound(mcp, 10, 20_000) is None
    assert _worst(SEARCH, FETCH) == pytest.approx(_usd(PROMPT + 3 * 200_000, 1))
    # and a container session (test_price27_tool_fees.py)
    assert _worst(CODE) == pytest.approx(_usd(PROMPT + 9 * 200_000) + 0.05 * 5 / 60)


def test_web_search_result_tokens_configured_and_bounded(tmp_path: Path) -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "a.db")
    doc["models"]["sim-tiny"]["web_search_result_tokens"] = -1
    with pytest.raises(ConfigError, match="web_search_result_tokens must be in"):
        config.loads(to_toml(doc), env=ENV)
    doc["models"]["sim-tiny"]["web_search_result_tokens"] = "many"
    with pytest.raises(ConfigError, match="web_search_result_tokens"):
        config.loads(to_toml(doc), env=ENV)
    doc["models"]["sim-tiny"]["web_search_result_tokens"] = 50_000
    m = config.loads(to_toml(doc), env=ENV).models["sim-tiny"]
    assert m.web_search_result_tokens == 50_000
    wide = ModelSettings(
        "w", "u", 5.0, 25.0, context_window=200_000, web_search_result_tokens=50_000
    )
    assert _worst(SEARCH, model=wide) == pytest.approx(
        _usd(PROMPT + PROMPT + OUT + 50_000, 1, wide)
    )
