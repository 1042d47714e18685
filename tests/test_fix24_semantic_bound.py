"""fix24 (probe24a's finding): at the shipped `cache.max_false_hit_rate = 0.02` the semantic
cache serves nothing (the calibration curve's lowest point is ~0.2), and an operator who turned
it on got no semantic hit and no word why. Now: one line at start and in `check-config`, naming
the bound and the lowest rate the calibration reaches. The default is unchanged."""

from __future__ import annotations

import logging
import os

import pytest

from arbiter.cache.semantic import build_matcher, shipped_calibration
from arbiter.config import loads
from arbiter.config_warnings import config_warnings
from arbiter.embedding import unavailable

DOC = (
    '[upstreams.u]\nbase_url = "http://127.0.0.1:9/v1"\napi_key_env = "K"\n'
    '[models.m]\nupstream = "u"\nprice_in_per_mtok = 1.0\nprice_out_per_mtok = 1.0\n'
)
LOWEST = f"{min(shipped_calibration().upper):.3f}"


def _doc(cache: str) -> str:
    return DOC + "[cache]\n" + cache


def _bound_warnings(cache: str) -> list[str]:
    settings = loads(_doc(cache), env={"K": "sk-upstream"})
    return [w for w in config_warnings(settings) if w.startswith("cache.max_false_hit_rate")]


def test_check_config_says_the_default_bound_serves_no_semantic_hit() -> None:
    """Fails before: no warning."""
    (warned,) = _bound_warnings("enabled = true\nsemantic = true\n")
    assert "0.02" in warned and LOWEST in warned and "no semantic hit" in warned


def test_a_bound_the_calibration_reaches_or_no_semantic_cache_is_not_warned() -> None:
    assert float(LOWEST) > 0.1  # the shipped curve (probe24a: ~0.204)
    assert _bound_warnings("enabled = true\nsemantic = true\nmax_false_hit_rate = 0.3\n") == []
    assert _bound_warnings("enabled = true\nsemantic = false\n") == []
    assert _bound_warnings("enabled = false\nsemantic = true\n") == []


def test_the_start_up_line_says_it_once(caplog: pytest.LogCaptureFixture) -> None:
    """Fails before: the matcher was built without a word."""
    why = unavailable()
    if why is not None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"local model missing in CI: {why}")
        pytest.skip(f"local model not installed: {why}")
    for cache, expected in (
        ("semantic = true\n", 1),
        ("semantic = true\nmax_false_hit_rate = 0.3\n", 0),
    ):
        settings = loads(_doc("enabled = true\n" + cache), env={"K": "sk-upstream"})
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="arbiter"):
            assert build_matcher(settings, None) is not None
        lines = [r.getMessage() for r in caplog.records if "max_false_hit_rate" in r.getMessage()]
        assert len(lines) == expected, lines
        if expected:
            assert LOWEST in lines[0]
