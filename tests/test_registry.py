"""Run-time registry overrides: validation and application."""

from __future__ import annotations

import pytest

from arbiter.config import ModelSettings
from arbiter.errors import InvalidRequest
from arbiter.registry import Registry, validate_patch

MODELS = {
    "a": ModelSettings("a", "u", 1.0, 2.0, priors={"chat": 0.5}),
    "j": ModelSettings("j", "u", 1.0, 1.0, capabilities=["chat", "no-route"]),
}


def test_validate_patch() -> None:
    assert validate_patch({"price_in_per_mtok": 3, "enabled": False}) == {
        "price_in_per_mtok": 3.0,
        "enabled": False,
    }
    for bad in (
        {},
        {"context_window": 0},
        {"context_window": 1.5},
        {"enabled": 1},
        {"priors": {"chat": 2}},
        {"name": "x"},
        [1],
    ):
        with pytest.raises(InvalidRequest):
            validate_patch(bad)


def test_apply_overrides() -> None:
    r = Registry(MODELS)
    assert [m.name for m in r.pool()] == ["a"]  # no-route models are never routed
    assert r.apply({"a": {"price_out_per_mtok": 9.0, "priors": {"code": 0.9}}})
    assert r["a"].price_out_per_mtok == 9.0 and r["a"].priors == {"chat": 0.5, "code": 0.9}
    assert not r.apply({"a": {"price_out_per_mtok": 9.0, "priors": {"code": 0.9}}})  # unchanged
    assert r.apply({"a": {"enabled": False}, "ghost": {"enabled": False}})
    assert r.get("a") is None and r["a"].price_out_per_mtok == 2.0 and r.pool() == []
    assert r.apply({})
    assert r.get("a") is not None
