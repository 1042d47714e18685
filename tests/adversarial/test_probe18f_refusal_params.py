"""Outside probe (eighteenth session, spec-driven fuzz): a request pinned to a model whose protocol
cannot carry one of its features (an OpenAI-only field, n > 1, a whitespace stop sequence, a
tool whose parameters are not an object schema, file content) was refused before any call, but
with `param: null`: OpenAI's error shape names the field, and a client (or the SDK user reading
`err.param`) could not tell which one to drop. Each refusal now names the field in the caller's
words: the Responses API's `reasoning.effort` / `text.verbosity` / `input`, not the Chat view's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.inproc import InProcess, run_with_claude
from tests.openapi_spec import validate
from tests.sdk_clients import sim_requests

HI: Any = [{"role": "user", "content": "What is the capital of France?"}]
NOT_AN_OBJECT: Any = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "array"}},
}
FILE: Any = [{"role": "user", "content": [{"type": "input_file", "file_id": "file-abc"}]}]
# (surface, the body's fields beside model, the param the 400 must name)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/chat/completions", {"messages": HI, "logit_bias": {"50256": -100}}, "logit_bias"),
    ("/v1/chat/completions", {"messages": HI, "n": 2}, "n"),
    ("/v1/chat/completions", {"messages": HI, "logprobs": True}, "logprobs"),
    ("/v1/chat/completions", {"messages": HI, "stop": ["\n"]}, "stop"),
    ("/v1/chat/completions", {"messages": HI, "reasoning_effort": "high"}, "reasoning_effort"),
    ("/v1/chat/completions", {"messages": HI, "prediction": {"type": "content", "content": "x"}},
     "prediction"),
    ("/v1/chat/completions", {"messages": HI, "tools": [NOT_AN_OBJECT]}, "tools"),
    ("/v1/chat/completions", {"messages": [{"role": "system", "content": "Be brief."}]},
     "messages"),
    ("/v1/responses", {"input": "Hi", "reasoning": {"effort": "high"}}, "reasoning.effort"),
    ("/v1/responses", {"input": "Hi", "text": {"verbosity": "low"}}, "text.verbosity"),
    ("/v1/responses", {"input": FILE}, "input"),
]  # fmt: skip


IMAGE: Any = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
    }
]
IMAGE_INPUT: Any = [
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "https://example.com/a.png"},
        ],
    }
]
SPOKEN: Any = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "mp3"}}
# (surface, model, fields, param): no model in the demo pool has vision or audio
UNSERVED: list[tuple[str, str, dict[str, Any], str]] = [
    ("/v1/chat/completions", "auto", {"messages": IMAGE}, "messages"),
    ("/v1/responses", "auto", {"input": IMAGE_INPUT}, "input"),
    ("/v1/chat/completions", "auto", {"messages": HI, **SPOKEN}, "modalities"),
    ("/v1/chat/completions", "sim-small", {"messages": HI, **SPOKEN}, "modalities"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "model", "fields", "param"), UNSERVED, ids=[f"{c[1]}-{c[3]}" for c in UNSERVED]
)
def test_a_capability_no_model_has_names_the_field_that_asks_for_it(
    tmp_path: Path, path: str, model: str, fields: dict[str, Any], param: str
) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post(path, json={"model": model, **fields}, headers=sc.auth)
        assert r.status_code == 400, r.text
        validate("ErrorResponse", r.json())
        assert r.json()["error"]["code"] == "no_capable_model", r.text
        assert r.json()["error"]["param"] == param, r.text

    run_with_claude(tmp_path, body)


@pytest.mark.parametrize(("path", "fields", "param"), CASES, ids=[c[2] for c in CASES])
def test_a_feature_the_named_models_protocol_cannot_carry_is_named(
    tmp_path: Path, path: str, fields: dict[str, Any], param: str
) -> None:
    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        r = await sc.client.post(
            path, json={"model": "sim-medium", **fields}, headers=sc.auth
        )  # sim-medium speaks Anthropic's API
        assert r.status_code == 400, r.text
        validate("ErrorResponse", r.json())
        error = r.json()["error"]
        assert "cannot serve this request" in error["message"], error
        assert error["param"] == param, error
        assert await sim_requests(sc) == before, "refused before any upstream call"

    run_with_claude(tmp_path, body)
