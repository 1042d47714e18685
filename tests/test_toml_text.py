"""to_toml: the one writer of config files for tests, benches and offline tools."""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest

from arbiter import config
from arbiter.toml_text import to_toml


def test_round_trips_tables_arrays_of_tables_and_odd_keys() -> None:
    doc: dict[str, Any] = {
        "seed": 7,
        "server": {"log_level": "warning", "max_body_bytes": 65536},
        "routing": {"quality_target": 0.95, "explore": 0.0, "difficulty": False,
                    "cascade_tasks": ["code", "math"]},
        "budgets": {"judge_scope": "tenant",
                    "caps": [{"scope": "global", "limit_usd": 1e-06, "window": "total"},
                             {"scope": "tenant", "limit_usd": 2.5, "window": "day"}]},
        "models": {
            "mistralai/Mixtral-8x7B": {"price_in_per_mtok": 0.24, "priors": {"chat": 0.9}},
            "quoted \"name\" \\ é": {"price_in_per_mtok": 1.0, "capabilities": ["chat"]},
        },
        "inline": [{"a": 1}, {"b": "x"}],  # a list of tables is an array of tables
    }  # fmt: skip
    assert tomllib.loads(to_toml(doc)) == doc


def test_special_floats_and_inline_tables() -> None:
    back = tomllib.loads(to_toml({"a": math.inf, "b": -math.inf, "c": {"x": [{"y": 1}]},
                                  "d": [[1, 2], []]}))  # fmt: skip
    assert back["a"] == math.inf and back["b"] == -math.inf
    assert back["c"] == {"x": [{"y": 1}]} and back["d"] == [[1, 2], []]
    assert math.isnan(tomllib.loads(to_toml({"n": math.nan}))["n"])


def test_what_has_no_toml_form_is_refused() -> None:
    with pytest.raises(TypeError, match="NoneType"):
        to_toml({"x": None})


def test_a_written_sidecar_config_loads() -> None:
    text = to_toml({
        "auth": {"mode": "open"},
        "upstreams": {"sim": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "K"}},
        "models": {"m": {"upstream": "sim", "price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0}},
    })  # fmt: skip
    settings = config.loads(text, env={"K": "x"})
    assert settings.models["m"].price_out_per_mtok == 2.0
