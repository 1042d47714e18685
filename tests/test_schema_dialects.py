"""A strict schema crossing protocols: put in the subset Anthropic's structured outputs take (as its
own SDK does), and refused to OpenAI when its strict mode would refuse it. The schemas are what
the SDKs themselves send for a pydantic model."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.lib._parse._transform import transform_schema
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel, Field

from arbiter.protocols import anthropic as codec
from arbiter.protocols import openai as oai
from arbiter.protocols import untranslatable
from arbiter.protocols.schema_dialects import for_anthropic, openai_strict_problem


class Address(BaseModel):
    city: str
    postcode: str = Field(min_length=3, pattern="^[A-Z0-9 ]+$")


class Person(BaseModel):
    name: str = Field(description="full name")
    age: int = Field(ge=0, le=150)
    nickname: str | None
    home: Address
    tags: list[str] = Field(max_length=5)


class Loose(BaseModel):
    name: str
    nickname: str = "none"  # optional: not in `required`


def openai_body(schema: dict[str, Any]) -> dict[str, Any]:
    rf = {"type": "json_schema", "json_schema": {"name": "p", "strict": True, "schema": schema}}
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": rf}


def test_an_openai_sdk_schema_goes_to_anthropic_as_its_sdk_would_send_it() -> None:
    schema = to_strict_json_schema(Person)  # what chat.completions.parse sends
    out = codec.encode_request(oai.decode_request(openai_body(schema)), "c", default_max_tokens=9)
    sent = out["output_config"]["format"]["schema"]
    assert sent == for_anthropic(schema)
    age = sent["properties"]["age"]
    assert "minimum" not in age and "maximum" not in age
    assert age["type"] == "integer" and "minimum: 0" in age["description"]
    assert sent["properties"]["name"]["description"] == "full name"
    postcode = sent["$defs"]["Address"]["properties"]["postcode"]
    assert set(postcode) == {"type", "title", "description"}  # bounds and pattern: described
    assert sent["properties"]["home"] == {"$ref": "#/$defs/Address"}
    assert sent["properties"]["tags"]["items"] == {"type": "string"}
    assert all(v["additionalProperties"] is False for v in (sent, sent["$defs"]["Address"]))
    # the client's own schema still grades the answer
    assert oai.decode_request(openai_body(schema)).response_format.schema == schema  # type: ignore[union-attr]


def test_for_anthropic_keeps_what_the_anthropic_sdk_keeps() -> None:
    """On a schema without OpenAI's type lists, the same result as the SDK's own transform."""
    schema = Person.model_json_schema()
    assert for_anthropic(schema) == transform_schema(schema)


def test_a_type_list_becomes_branches() -> None:
    assert for_anthropic({"type": ["string", "null"], "maxLength": 4}) == {
        "anyOf": [
            {"type": "string", "description": "{maxLength: 4}"},
            {"type": "null", "description": "{maxLength: 4}"},
        ]
    }


def test_an_anthropic_schema_with_an_optional_property_does_not_go_to_openai() -> None:
    loose = transform_schema(Loose)  # what messages.parse(output_format=Loose) sends
    assert openai_strict_problem(loose) == "an optional property 'nickname' at schema"
    body = {
        "model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": loose}},
    }  # fmt: skip
    why = untranslatable(codec.decode_request(body), "openai")
    assert why is not None and "'nickname'" in why and "strict" in why
    closed = transform_schema(Person)
    assert openai_strict_problem(closed) is None
    body["output_config"] = {"format": {"type": "json_schema", "schema": closed}}
    assert untranslatable(codec.decode_request(body), "openai") is None


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "object", "properties": {"a": {}}, "required": ["a"]}, None),  # closed by us
        (
            {"type": "object", "properties": {}, "additionalProperties": True},
            "open to additional properties",
        ),
        (
            {"type": "array", "items": {"type": "object", "properties": {"b": {}}}},
            "'b' at schema.items",
        ),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, None),
    ],
)
def test_openai_strict_problem_names_the_place(schema: dict[str, Any], problem: str | None) -> None:
    got = openai_strict_problem(schema)
    assert (got is None) if problem is None else (got is not None and problem in got), got


def test_an_anthropic_schema_goes_to_openai_with_its_objects_said_closed() -> None:
    schema = Person.model_json_schema()  # a raw output_config.format: closing left unsaid
    schema["properties"]["nickname"] = {"type": ["string", "null"]}
    body = {
        "model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }  # fmt: skip
    req = codec.decode_request(body)
    assert untranslatable(req, "openai") is None
    sent = oai.encode_request(req, "gpt")["response_format"]["json_schema"]
    assert sent["strict"] is True and sent["schema"]["additionalProperties"] is False
    assert sent["schema"]["$defs"]["Address"]["additionalProperties"] is False
    assert sent["schema"]["properties"] == schema["properties"]
