"""The simulator answers the SDKs' structured-output helpers with values their models validate.

`client.chat.completions.parse(response_format=Model)`, `pydantic_function_tool(Model)` and the
anthropic SDK's `messages.parse(output_format=Model)` send pydantic's JSON schema, where a nested
model is a local `$ref` into `$defs` and an Optional field an `anyOf` with null. The simulator
(the demo's upstream, `arbiter sim`) followed neither: a nested model came back `{}` and an
Optional field `{}`, so every such call through `arbiter demo` failed in the SDK's validation
(found by probe14a through the sidecar). Now both are followed, in answers and in tool calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random
from typing import Literal

import anthropic
import openai
import pytest
from pydantic import BaseModel

from arbiter.offline.sim import SimServer, tool_calls
from arbiter.offline.sim.content import _extraction

from .helpers import ALL_GOOD, AUTH, fast_config, fast_model

KEY = AUTH["Authorization"].removeprefix("Bearer ")


class Address(BaseModel):
    city: str
    zip_code: str | None


class Person(BaseModel):
    name: str
    age: int
    kind: Literal["staff", "guest"]
    address: Address
    previous: list[Address]
    nickname: str | None


SCHEMA = Person.model_json_schema()


def test_the_schemas_pydantic_writes_use_refs_and_anyof() -> None:
    """What the fix is about (a pydantic that stopped writing them would make this test moot)."""
    assert "$defs" in SCHEMA and SCHEMA["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert "anyOf" in SCHEMA["properties"]["nickname"]


@pytest.mark.parametrize("seed", range(5))
def test_a_good_structured_answer_validates(seed: int) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA, "strict": True}}
    answer = _extraction(None, fmt, True, Random(seed))
    Person.model_validate_json(answer.content)


@pytest.mark.parametrize("seed", range(5))
def test_tool_call_arguments_follow_refs(seed: int) -> None:
    Person.model_validate(tool_calls.instance(SCHEMA, Random(seed)))


def test_a_ref_that_points_nowhere_or_at_itself_ends() -> None:
    assert tool_calls.instance({"$ref": "#/$defs/Missing"}, Random(0)) is not None
    looped = {"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]}
    value = tool_calls.instance(looped, Random(0))
    assert isinstance(value, dict) and "next" in value  # cut at the depth bound, not a hang
    fmt = {"type": "json_schema", "json_schema": {"name": "l", "schema": looped}}
    assert _extraction(None, fmt, True, Random(0)).content.startswith("{")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    """A perfect model on each API: every answer is the good one."""
    config = fast_config(
        {
            "always": fast_model(quality=ALL_GOOD),
            "claude-always": fast_model(quality=ALL_GOOD, protocol="anthropic"),
        }
    )
    with SimServer(config) as server:
        yield server


@pytest.fixture
def gpt(sim: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim.base_url, api_key=KEY, max_retries=0, timeout=10) as c:
        yield c


def test_the_openai_sdk_parses_the_answer(gpt: openai.OpenAI) -> None:
    for i in range(3):
        completion = gpt.chat.completions.parse(
            model="always",
            messages=[{"role": "user", "content": f"Extract the person from record {i}."}],
            response_format=Person,
        )
        assert isinstance(completion.choices[0].message.parsed, Person)


def test_the_openai_sdk_parses_the_tool_arguments(gpt: openai.OpenAI) -> None:
    completion = gpt.chat.completions.parse(
        model="always",
        messages=[{"role": "user", "content": "Record the person."}],
        tools=[openai.pydantic_function_tool(Person)],
        tool_choice="required",
    )
    calls = completion.choices[0].message.tool_calls
    assert calls and isinstance(calls[0].function.parsed_arguments, Person)  # type: ignore[union-attr]


def test_the_anthropic_sdk_parses_the_answer(sim: SimServer) -> None:
    with anthropic.Anthropic(
        base_url=sim.root_url, api_key=KEY, max_retries=0, timeout=10
    ) as claude:
        message = claude.messages.parse(
            model="claude-always",
            max_tokens=500,
            messages=[{"role": "user", "content": "Extract the person from the record."}],
            output_format=Person,
        )
    assert isinstance(message.parsed_output, Person)
