"""The simulator speaks OpenAI's wire format: JSON and SSE shapes, errors, auth, the SDK."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from arbiter.offline.sim import SimServer
from arbiter.offline.workload import make_workload

from .helpers import AUTH, fast_config, fast_model, openapi_validator, sse_data

HELLO = [{"role": "user", "content": "Hello there, how are you today?"}]


def test_models_list_has_openai_shape(client: httpx.Client) -> None:
    r = client.get("/v1/models")
    assert r.status_code == 200
    openapi_validator("ListModelsResponse").validate(r.json())
    assert [m["id"] for m in r.json()["data"]] == ["always", "never", "judge"]


def test_completion_matches_openapi_schema(client: httpx.Client) -> None:
    validator = openapi_validator("CreateChatCompletionResponse")
    for item in make_workload(30, seed=3):
        body = {"model": "always", "messages": item.messages}
        if item.response_format:
            body["response_format"] = item.response_format
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 200
        data = r.json()
        validator.validate(data)
        assert data["object"] == "chat.completion"
        assert data["model"] == "always"
        choice = data["choices"][0]
        assert choice["message"]["role"] == "assistant"
        assert choice["finish_reason"] in ("stop", "length")
        usage = data["usage"]
        content = choice["message"]["content"]
        assert usage["completion_tokens"] == -(-len(content) // 4)
        expected_prompt = sum(-(-len(m["content"]) // 4) for m in item.messages)
        assert usage["prompt_tokens"] == expected_prompt
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_chunks_match_openapi_schema(client: httpx.Client) -> None:
    validator = openapi_validator("CreateChatCompletionStreamResponse")
    body = {"model": "always", "messages": HELLO, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        payloads = sse_data(list(r.iter_lines()))
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        validator.validate(chunk)
        assert chunk["object"] == "chat.completion.chunk"
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content_chunks = [c for c in chunks[1:-2] if c["choices"][0]["delta"].get("content")]
    assert len(content_chunks) >= 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert chunks[-1]["usage"]["completion_tokens"] == -(-len(text) // 4)


def test_stream_without_include_usage_has_no_usage_chunk(client: httpx.Client) -> None:
    body = {"model": "always", "messages": HELLO, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        payloads = sse_data(list(r.iter_lines()))
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["choices"] for c in chunks)
    assert all("usage" not in c for c in chunks)


def test_unknown_model_is_404_in_openai_error_shape(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json={"model": "nope", "messages": HELLO})
    assert r.status_code == 404
    openapi_validator("ErrorResponse").validate(r.json())
    assert r.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic x"}])
def test_missing_or_bad_key_is_401(sim: SimServer, headers: dict[str, str]) -> None:
    r = httpx.post(f"{sim.base_url}/chat/completions", headers=headers,
                   json={"model": "always", "messages": HELLO})  # fmt: skip
    assert r.status_code == 401
    openapi_validator("ErrorResponse").validate(r.json())


def test_bad_bodies_are_400(client: httpx.Client) -> None:
    assert client.post("/v1/chat/completions", content=b"{not json").status_code == 400
    assert client.post("/v1/chat/completions", json=[1]).status_code == 400
    r = client.post("/v1/chat/completions", json={"model": "always", "messages": []})
    assert r.status_code == 400


def test_auth_can_be_switched_off() -> None:
    with SimServer(fast_config({"m": fast_model()}, require_auth=False)) as server:
        r = httpx.post(f"{server.base_url}/chat/completions",
                       json={"model": "m", "messages": HELLO})  # fmt: skip
        assert r.status_code == 200


def test_max_tokens_truncates_with_finish_reason_length(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions",
                    json={"model": "always", "messages": HELLO, "max_tokens": 5})  # fmt: skip
    data = r.json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert len(data["choices"][0]["message"]["content"]) <= 20
    assert data["usage"]["completion_tokens"] <= 5


def test_official_sdk_non_stream_stream_and_errors(sim: SimServer) -> None:
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk:
        done = sdk.chat.completions.create(model="always", messages=HELLO)  # type: ignore[arg-type]
        assert done.choices[0].message.content
        assert done.usage is not None and done.usage.total_tokens > 0
        stream = sdk.chat.completions.create(
            model="always", messages=HELLO, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )  # fmt: skip
        parts, usage = [], None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        assert "".join(parts) == done.choices[0].message.content or parts
        assert usage is not None and usage.completion_tokens > 0
        with pytest.raises(openai.NotFoundError):
            sdk.chat.completions.create(model="missing", messages=HELLO)  # type: ignore[arg-type]
        assert [m.id for m in sdk.models.list()] == ["always", "never", "judge"]


def test_sdk_parses_json_schema_extraction(sim: SimServer) -> None:
    item = next(i for i in make_workload(50, seed=9) if i.family == "extraction.person")
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk:
        done = sdk.chat.completions.create(
            model="always", messages=item.messages,  # type: ignore[arg-type]
            response_format=item.response_format,  # type: ignore[arg-type]
        )  # fmt: skip
    assert item.check(done.choices[0].message.content or "") == 1.0


def test_health_and_headers(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"ok": True}
    assert AUTH["Authorization"].startswith("Bearer")
