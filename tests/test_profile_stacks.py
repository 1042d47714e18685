"""bench/profile_stacks.py charges samples to components; the request flow stays one group."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "profile_stacks", ROOT / "bench" / "profile_stacks.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_split_request_flow_counts_as_the_pipeline() -> None:
    ps = _load()
    for name in ("pipeline", "routed_stream", "whole_answer", "call_pricing", "answer_handoff"):
        frame = f"run (/site/arbiter/{name}.py:12)"
        assert ps.component([frame]) == "arbiter.pipeline (+ its split modules)", name
    assert ps.component(["f (/site/arbiter/some_new_module.py:1)"]) == "arbiter (other)"


def test_every_module_a_component_names_exists() -> None:
    """A module renamed or split away would silently fall to "arbiter (other)"."""
    ps = _load()
    for _component, pattern in ps.COMPONENTS:
        for alternative in re.findall(r"arbiter/(?:\(\?:)?([a-z_|]+)\)?\\\.py", pattern):
            for name in alternative.split("|"):
                assert (ROOT / "python" / "arbiter" / f"{name}.py").exists(), (pattern, name)
