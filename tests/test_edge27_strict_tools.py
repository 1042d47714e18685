"""edge27: a strict function tool whose schema OpenAI's strict mode refuses is a 400 on the
OpenAI surfaces, in OpenAI's shape and naming the tool's `parameters`, before any upstream call
(the official openai SDK against a real `arbiter serve` in front of a recording upstream,
tests/probe21b_rig.py); schemas in its subset, and non-strict tools, still go on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.probe21b_rig import Rig, rig

CITY = {"type": "string"}
GOOD = {"type": "object", "properties": {"city": CITY}, "required": ["city"],
        "additionalProperties": False}  # fmt: skip
# (the schema, what OpenAI's message names)
REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "open root": ({**GOOD, "additionalProperties": True}, "'additionalProperties'"),
    "unsaid root": (
        {k: v for k, v in GOOD.items() if k != "additionalProperties"},
        "'additionalProperties'",
    ),
    "optional property": (
        {**GOOD, "properties": {"city": CITY, "unit": CITY}},
        "Missing 'unit'",
    ),
    "open nested object": (
        {
            **GOOD,
            "properties": {
                "city": {"type": "object", "properties": {"name": CITY}, "required": ["name"]}
            },
        },
        "context=('properties', 'city')",
    ),
    "allOf": ({**GOOD, "properties": {"city": {"allOf": [CITY]}}}, "'allOf' is not permitted"),
    "array root": ({"type": "array", "items": CITY}, 'type: "object"'),
}


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge27-strict")) as made:
        yield made


def _ask(r: Rig, surface: str, model: str, schema: dict[str, Any], word: str, strict: bool) -> Any:
    if surface == "chat":
        fn = {"name": "weather", "parameters": schema, "strict": strict}
        return r.client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": f"weather {word}"}],
            tools=[{"type": "function", "function": fn}],  # type: ignore[list-item,typeddict-item]
        )
    tool = {"type": "function", "name": "weather", "parameters": schema, "strict": strict}
    return r.client.responses.create(model=model, input=f"weather {word}", tools=[tool])  # type: ignore[list-item]


@pytest.mark.parametrize("model", ["oa-1", "auto"])
@pytest.mark.parametrize("surface", ["chat", "responses"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_strict_schema_openai_refuses_is_a_400_before_any_call(
    r: Rig, case: str, surface: str, model: str
) -> None:
    """It went to the upstream as it came: OpenAI's 400 after routing (`auto` may also have
    picked a `json-schema` Claude model and answered)."""
    schema, named = REFUSED[case]
    word = uuid.uuid4().hex
    with pytest.raises(openai.BadRequestError) as bad:
        _ask(r, surface, model, schema, word, strict=True)
    where = "tools[0].function" if surface == "chat" else "tools[0]"
    assert bad.value.param == f"{where}.parameters"
    assert "Invalid schema for function 'weather'" in bad.value.message, bad.value.message
    assert named in bad.value.message, bad.value.message
    assert not r.recorder.bodies(word)


@pytest.mark.parametrize("surface", ["chat", "responses"])
def test_a_schema_in_the_subset_and_a_loose_tool_go_on(r: Rig, surface: str) -> None:
    """The controls: a strict schema OpenAI takes, and an open schema without `strict`."""
    for schema, strict in ((GOOD, True), (REFUSED["optional property"][0], False)):
        word = uuid.uuid4().hex
        _ask(r, surface, "oa-1", schema, word, strict)
        (_path, body) = r.recorder.one(word)
        sent = body["tools"][0]["function"]
        assert sent["parameters"] == schema and sent.get("strict") is strict, sent


def test_an_anthropic_clients_strict_tool_is_not_held_to_openais_rule(r: Rig) -> None:
    """Anthropic's strict mode takes an optional property: its client is served as before."""
    word = uuid.uuid4().hex
    schema = {"type": "object", "properties": {"city": CITY, "unit": CITY}, "required": ["city"]}
    with anthropic.Anthropic(
        base_url=r.sidecar.root_url, api_key=r.key, max_retries=0, timeout=30
    ) as claude:
        claude.messages.create(
            model="an-1",
            max_tokens=32,
            messages=[{"role": "user", "content": f"weather {word}"}],
            tools=[{"name": "weather", "input_schema": schema, "strict": True}],  # type: ignore[typeddict-unknown-key]
        )
    assert r.recorder.one(word)[1]["tools"][0]["strict"] is True
