"""Helpers for the simulator tests: fast pool configs and OpenAPI validators."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from arbiter.sim.config import SimConfig, parse_config

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openai-openapi.json.gz"
AUTH = {"Authorization": "Bearer test-key"}
TASK_NAMES = ("code", "math", "extraction", "summarization", "translation", "creative", "chat")
ALL_GOOD = dict.fromkeys(TASK_NAMES, 1.0)
ALL_BAD = dict.fromkeys(TASK_NAMES, 0.0)


def fast_model(**overrides: Any) -> dict[str, Any]:
    """A model table with no latency, so tests run fast."""
    spec: dict[str, Any] = {"latency_ms": 0, "latency_jitter_ms": 0, "ms_per_chunk": 0}
    spec.update(overrides)
    return spec


def fast_config(models: dict[str, dict[str, Any]], **top: Any) -> SimConfig:
    raw: dict[str, Any] = {"seed": 11, "models": models}
    raw.update(top)
    return parse_config(raw)


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (still used in places) as JSON Schema: anyOf [.., null]."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _spec() -> dict[str, Any]:
    with gzip.open(SPEC, "rt", encoding="utf-8") as fh:
        spec: dict[str, Any] = _nullable(json.load(fh))
    return spec


def openapi_validator(schema_name: str) -> Draft202012Validator:
    """A validator for one of the OpenAPI spec's components/schemas ($refs resolved)."""
    if not SPEC.exists():
        pytest.skip(f"OpenAPI spec not found at {SPEC}")
    resource = Resource.from_contents(_spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openai-openapi", resource)
    schema = {"$ref": f"urn:openai-openapi#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


def sse_data(lines: list[str]) -> list[str]:
    """The payloads of `data:` lines in an SSE body."""
    return [line[len("data: ") :] for line in lines if line.startswith("data: ")]
