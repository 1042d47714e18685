"""Helpers for the simulator tests: fast pool configs and OpenAPI validators."""

from __future__ import annotations

from typing import Any

from arbiter.classify import TASKS
from arbiter.offline.sim.config import SimConfig, parse_config
from tests.openapi_spec import validator

AUTH = {"Authorization": "Bearer test-key"}
ALL_GOOD = dict.fromkeys(TASKS, 1.0)
ALL_BAD = dict.fromkeys(TASKS, 0.0)
openapi_validator = validator  # the one spec loader, shared with the sidecar's tests


def fast_model(**overrides: Any) -> dict[str, Any]:
    """A model table with no latency, so tests run fast."""
    spec: dict[str, Any] = {"latency_ms": 0, "latency_jitter_ms": 0, "ms_per_chunk": 0}
    spec.update(overrides)
    return spec


def fast_config(models: dict[str, dict[str, Any]], **top: Any) -> SimConfig:
    raw: dict[str, Any] = {"seed": 11, "models": models}
    raw.update(top)
    return parse_config(raw)


def sse_data(lines: list[str]) -> list[str]:
    """The payloads of `data:` lines in an SSE body."""
    return [line[len("data: ") :] for line in lines if line.startswith("data: ")]
