"""A strict JSON schema as each protocol's constrained decoding takes it. Pure.

Anthropic's structured outputs (`output_config.format`) take a subset of JSON Schema
(platform.claude.com/docs/en/build-with-claude/structured-outputs, "JSON Schema limitations"):
types, `enum`/`const` of primitives, `anyOf`/`allOf`, local `$ref`/`$defs`, `required`,
`additionalProperties: false`, the string formats below, `minItems` 0 or 1. Numeric and string
bounds, `pattern`, other array bounds are refused with a 400. `for_anthropic` rewrites a schema
as Anthropic's own SDK does before sending one (anthropic/lib/_parse/_transform.py): what it
cannot enforce moves into the description, which the model reads; the client's schema still
grades the answer.

OpenAI's strict mode wants every object closed (`additionalProperties: false`, said) with every
property required; an Anthropic schema may leave properties optional. `openai_strict_problem`
names the first object that is not so (that model is then not eligible: untranslatable());
`for_openai` says `additionalProperties: false` where a schema left it out.
"""

from __future__ import annotations

from typing import Any, Final

_STRING_FORMATS: Final = frozenset({
    "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid",
})  # fmt: skip
_PRIMITIVE = (str, int, float, bool, type(None))


def for_anthropic(schema: Any) -> Any:
    """`schema` in the subset Anthropic takes (see the module's doc)."""
    if not isinstance(schema, dict):
        return schema  # `true`/`false` schemas and the like: Anthropic judges them
    rest = dict(schema)
    out: dict[str, Any] = {}
    if isinstance(defs := rest.pop("$defs", None), dict):
        out["$defs"] = {name: for_anthropic(d) for name, d in defs.items()}
    if isinstance(ref := rest.pop("$ref", None), str):
        out["$ref"] = ref
        if (description := rest.get("description")) is not None:
            out["description"] = description
        return out
    kind = rest.pop("type", None)
    if kind is None and isinstance(rest.get("properties"), dict):
        kind = "object"  # what OpenAI reads such a schema as
    if isinstance(kind, list):  # ["string", "null"] (OpenAI's nullable): one branch per type
        branches = [for_anthropic({**rest, "type": k}) for k in kind]
        return {**out, "anyOf": branches} if len(branches) != 1 else {**out, **branches[0]}
    literal = False
    enum = rest.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, _PRIMITIVE) for v in enum):
        out["enum"] = rest.pop("enum")
        literal = True
    if "const" in rest and isinstance(rest["const"], _PRIMITIVE):
        out["const"] = rest.pop("const")
        literal = True
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(branches := rest.pop(key, None), list):
            out["allOf" if key == "allOf" else "anyOf"] = [for_anthropic(b) for b in branches]
    if not literal and kind is not None and "anyOf" not in out and "allOf" not in out:
        out["type"] = kind
    for key in ("description", "title"):
        if key in rest:
            out[key] = rest.pop(key)
    if kind == "object":
        props = rest.pop("properties", {})
        out["properties"] = (
            {k: for_anthropic(v) for k, v in props.items()} if isinstance(props, dict) else {}
        )
        rest.pop("additionalProperties", None)
        out["additionalProperties"] = False
        if (required := rest.pop("required", None)) is not None:
            out["required"] = required
    elif kind == "string" and rest.get("format") in _STRING_FORMATS:
        out["format"] = rest.pop("format")
    elif kind == "array":
        if (items := rest.pop("items", None)) is not None:
            out["items"] = for_anthropic(items)
        if rest.get("minItems") in (0, 1):
            out["minItems"] = rest.pop("minItems")
    if rest:  # what Anthropic cannot enforce: said in the description, as its SDK does
        said = "{" + ", ".join(f"{k}: {v}" for k, v in rest.items()) + "}"
        out["description"] = f"{out['description']}\n\n{said}" if "description" in out else said
    return out


def openai_strict_problem(schema: Any, where: str = "schema") -> str | None:
    """The first object OpenAI's strict mode refuses (an optional property, or one left open),
    or None."""
    if not isinstance(schema, dict):
        return None
    props = schema.get("properties")
    if isinstance(props, dict):
        required = schema.get("required")
        named = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
        missing = next((k for k in props if k not in named), None)
        if missing is not None:
            return f"an optional property {str(missing)[:64]!r} at {where[:200]}"
        if schema.get("additionalProperties", False) is not False:
            return f"an object open to additional properties at {where[:200]}"
    for key, sub in _subschemas(schema):
        if (problem := openai_strict_problem(sub, f"{where}.{key}")) is not None:
            return problem
    return None


def for_openai(schema: Any) -> Any:
    """`schema` with each object that does not say closed so (Anthropic decodes them closed):
    OpenAI's strict mode wants `additionalProperties: false` said. Call openai_strict_problem
    first."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "$defs", "definitions"):
        if isinstance(named := out.get(key), dict):
            out[key] = {k: for_openai(v) for k, v in named.items()}
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(branches := out.get(key), list):
            out[key] = [for_openai(b) for b in branches]
    for key in ("items", "not"):
        if isinstance(out.get(key), dict):
            out[key] = for_openai(out[key])
    if isinstance(out.get("properties"), dict):
        out.setdefault("additionalProperties", False)
    return out


def _subschemas(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key in ("properties", "$defs", "definitions"):
        if isinstance(named := schema.get(key), dict):
            out.extend((f"{key}.{k}", v) for k, v in named.items())
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(branches := schema.get(key), list):
            out.extend((f"{key}[{i}]", b) for i, b in enumerate(branches))
    for key in ("items", "additionalProperties", "not"):
        if isinstance(sub := schema.get(key), dict):
            out.append((key, sub))
    return out
