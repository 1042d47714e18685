"""Validate payloads against OpenAI's published OpenAPI spec, read in place from ../shared/specs."""

from __future__ import annotations

import functools
import gzip
import json
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.shared_data import SHARED, require_shared

SPEC = SHARED / "specs" / "openai-openapi.json.gz"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (still used in places) as JSON Schema: anyOf [.., null].

    Without this a null where the spec says `nullable` (e.g. a chunk's `logprobs`, a delta's
    `content`) fails validation, although it is exactly what OpenAI sends."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _spec() -> dict[str, Any]:
    require_shared(SPEC)
    with gzip.open(SPEC, "rt", encoding="utf-8") as f:
        return _nullable(json.load(f))  # type: ignore[no-any-return]


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(_spec(), default_specification=DRAFT202012)
    return Registry().with_resource("openapi.json", resource)


def validator(schema_name: str) -> jsonschema.Draft202012Validator:
    """A validator for one of the spec's components/schemas ($refs resolved)."""
    schema = {"$ref": f"openapi.json#/components/schemas/{schema_name}"}
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def validate(schema_name: str, payload: Any) -> None:
    """Raise jsonschema.ValidationError unless payload matches components/schemas/<schema_name>."""
    validator(schema_name).validate(payload)


@functools.cache
def _response_event_schemas() -> dict[str, str]:
    """The Responses stream's event type -> the name of its schema in ResponseStreamEvent."""
    schemas = _spec()["components"]["schemas"]
    out = {}
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        for kind in schemas[name].get("properties", {}).get("type", {}).get("enum", []):
            out[kind] = name
    return out


def validate_response_event(event: Any) -> None:
    """One Responses stream event against the schema its `type` names (a clearer failure than
    the whole ResponseStreamEvent anyOf), then against ResponseStreamEvent itself."""
    name = _response_event_schemas().get(event.get("type"))
    assert name is not None, f"no ResponseStreamEvent has type {event.get('type')!r}"
    validate(name, event)
    validate("ResponseStreamEvent", event)
