"""edge27b: a strict `json_schema` response format (chat's `response_format`, the Responses
API's `text.format`) whose schema OpenAI's strict mode refuses is a 400 before any upstream call,
in OpenAI's words ("Invalid schema for response_format 'NAME': ...") and naming `response_format`
/ `text.format.schema` as OpenAI does; the one checker strict tools use (openai_strict.py). The
official openai SDK against a real `arbiter serve` in front of a recording upstream
(tests/probe21b_rig.py); the schemas are edge27's strict-tool cases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.probe21b_rig import Rig, rig
from tests.test_edge27_strict_tools import GOOD, REFUSED


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge27b-formats")) as made:
        yield made


def _ask(r: Rig, surface: str, model: str, schema: dict[str, Any], word: str, strict: bool) -> Any:
    text = f"[[s:json]] answer {word}"
    if surface == "chat":
        spec = {"name": "answer", "schema": schema, "strict": strict}
        return r.client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": text}],
            response_format={"type": "json_schema", "json_schema": spec},  # type: ignore[typeddict-item]
        )
    fmt = {"type": "json_schema", "name": "answer", "schema": schema, "strict": strict}
    return r.client.responses.create(model=model, input=text, text={"format": fmt})  # type: ignore[typeddict-item]


@pytest.mark.parametrize("model", ["oa-1", "auto"])
@pytest.mark.parametrize("surface", ["chat", "responses"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_strict_format_openai_refuses_is_a_400_before_any_call(
    r: Rig, case: str, surface: str, model: str
) -> None:
    """Before: it went upstream as it came, OpenAI's 400 after routing and a held budget."""
    schema, named = REFUSED[case]
    word = uuid.uuid4().hex
    with pytest.raises(openai.BadRequestError) as bad:
        _ask(r, surface, model, schema, word, strict=True)
    assert bad.value.param == ("response_format" if surface == "chat" else "text.format.schema")
    assert bad.value.code == ("invalid_request" if surface == "chat" else "invalid_json_schema")
    assert "Invalid schema for response_format 'answer'" in bad.value.message, bad.value.message
    assert named in bad.value.message, bad.value.message
    assert not r.recorder.bodies(word)


@pytest.mark.parametrize("surface", ["chat", "responses"])
def test_a_format_in_the_subset_and_a_loose_one_go_on(r: Rig, surface: str) -> None:
    """The controls (pass before and after): a strict schema OpenAI takes, and an open schema
    without `strict`, reach the model as they came."""
    for schema, strict in ((GOOD, True), (REFUSED["optional property"][0], False)):
        word = uuid.uuid4().hex
        _ask(r, surface, "oa-1", schema, word, strict)
        (_path, body) = r.recorder.one(word)
        sent = body["response_format"]["json_schema"]
        assert sent["schema"] == schema and sent.get("strict") is strict, sent
