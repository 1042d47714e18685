"""A server tool loop's worst case (server_tool_worst.py, CallWorst): the iterations it may read
the prompt, the searches it may bill, OpenAI's search fee; and `web_search_uses`' bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arbiter import config
from arbiter.config import ModelSettings
from arbiter.errors import ConfigError
from arbiter.offline.demo import demo_settings
from arbiter.server_tool_worst import LOOP_ITERATIONS, iterations, web_searches
from arbiter.toml_text import to_toml
from arbiter.worst_case import CallWorst
from tests.conftest import ENV

SEARCH = {"type": "web_search_20250305", "name": "web_search"}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
FUNCTION = {"name": "f", "input_schema": {"type": "object"}}
M = ModelSettings("m", "u", 3.0, 15.0, context_window=10_000, web_search_uses=4)


def _body(*tools: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": "hi"}], "tools": list(tools), **extra}


def test_iterations_by_server_tools() -> None:
    assert iterations(_body(), 10) == 1
    assert iterations(_body(FUNCTION, {"type": "bash_20250124", "name": "bash"}), 10) == 1
    assert iterations(_body({**SEARCH, "max_uses": 3}), 10) == 4  # a read after each search
    assert iterations(_body({**SEARCH, "max_uses": 30}), 10) == LOOP_ITERATIONS
    assert iterations(_body(SEARCH), 2) == 3  # the default searches bound it too
    assert iterations(_body({**SEARCH, "max_uses": 1}, FETCH), 10) == LOOP_ITERATIONS
    assert iterations(_body(mcp_servers=[{"type": "url", "url": "https://x"}]), 10) == 10
    assert web_searches(_body({**SEARCH, "max_uses": 3}, SEARCH, FUNCTION), 7) == 10
    assert web_searches(_body({**SEARCH, "max_uses": True}), 7) == 7  # no count: the default


def test_worst_case_reads_a_window_per_later_iteration() -> None:
    """Two searches: three reads (the prompt, then at most the window twice), two searches."""
    worst = CallWorst({"m": M}.__getitem__, _body({**SEARCH, "max_uses": 2}), 100, None, 50)
    want = ((50 + 2 * 10_000) * 3.0 + 100 * 15.0) / 1e6 + 2 * M.price_web_search_usd
    assert worst("m") == pytest.approx(want)
    assert worst.prompt_limit(M) == 3 * 4 * 10_000
    # without max_uses: the model's web_search_uses (4), so 5 reads
    free = CallWorst({"m": M}.__getitem__, _body(SEARCH), 100, None, 50)
    assert free("m") == pytest.approx(
        ((50 + 4 * 10_000) * 3.0 + 100 * 15.0) / 1e6 + 4 * M.price_web_search_usd
    )
    plain = CallWorst({"m": M}.__getitem__, _body(FUNCTION), 100, None, 50)
    assert plain("m") == pytest.approx((50 * 3.0 + 100 * 15.0) / 1e6)
    assert plain.prompt_limit(M) == 4 * 10_000


def test_search_options_fee_held_once_and_kept_off_a_cut_streams_charge() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "web_search_options": {}}
    worst = CallWorst({"m": M}.__getitem__, body, 100, None, 50)
    tokens = (50 * 3.0 + 100 * 15.0) / 1e6
    assert worst("m") == pytest.approx(tokens + 0.025)
    assert worst.capped("m", 10_000) == pytest.approx(tokens)  # call_cost adds the fee


def test_web_search_uses_bounded(tmp_path: Path) -> None:
    doc = demo_settings("http://127.0.0.1:9/v1", tmp_path / "a.db")
    doc["models"]["sim-tiny"]["web_search_uses"] = -1
    with pytest.raises(ConfigError, match="web_search_uses must be in"):
        config.loads(to_toml(doc), env=ENV)
    doc["models"]["sim-tiny"]["web_search_uses"] = 3
    assert config.loads(to_toml(doc), env=ENV).models["sim-tiny"].web_search_uses == 3
