"""Outside probe (eighteenth session): every answer of the OpenAI surfaces, over real HTTP from a
real sidecar process (cache on, the sim pool with sim-medium speaking Anthropic's API), checked
against OpenAI's published spec (../shared/specs, read in place): chat completions with n > 1,
tools, logprobs and a json_schema, and each one's streamed chunks; `/v1/responses` objects and
every streamed event, its `sequence_number`s 0, 1, 2, ... in order; embeddings in float and
base64; `/v1/models` list and retrieve; legacy `/v1/completions`, plain and streamed. Each for
routed `auto`, a named OpenAI-protocol model and a named Anthropic-protocol one (translated), and
asked twice: the second is a cache hit, whose answer must have the fresh one's shape. Errors: in
OpenAI's shape with the field named.

Two places where OpenAI's own answers are not what its spec's schema says, relaxed here as the
API really answers (and the SDK types take): a base64 embedding is a string (the spec types
`embedding` as an array only), and a streamed legacy completion's `finish_reason` is null until
its last chunk (the spec's CreateCompletionResponse, used for the chunks too, has no null)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.responses import Response

from arbiter.offline.demo import Running, running_stack
from tests.openapi_spec import validate, validate_response_event
from tests.sdk_clients import check_completion, openai_chunks, sse

OPENAI, CLAUDE = "sim-small", "sim-medium"  # the second speaks Anthropic's Messages API
MODELS = ("auto", OPENAI, CLAUDE)
ASK = [{"role": "user", "content": "What is the capital of France? Answer briefly."}]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
           "additionalProperties": False}  # fmt: skip
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}  # fmt: skip
CHAT: dict[str, dict[str, Any]] = {
    "plain": {"messages": ASK},
    "n2": {"messages": ASK, "n": 2},
    "tools": {
        "messages": [{"role": "user", "content": "What is the weather in Paris? Use the tool."}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}],
        "tool_choice": "required",
    },
    "logprobs": {"messages": ASK, "logprobs": True, "top_logprobs": 2},
    "json_schema": {
        "messages": ASK,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": SCHEMA, "strict": True},
        },
    },
}
# what Anthropic's API cannot carry: a named Claude model refuses it, naming the field
REFUSED_BY_CLAUDE = {"n2": "n", "logprobs": "logprobs"}
RESPONSES: dict[str, dict[str, Any]] = {
    "plain": {"input": "What is 2 + 2?"},
    "tools": {
        "input": "What is the weather in Paris? Use the tool.",
        "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER}],
        "tool_choice": "required",
    },
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_stack(
        tmp_path_factory.mktemp("spec18"), anthropic_models=(CLAUDE,), cache=True
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: Running) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.base_url, headers={"authorization": f"Bearer {stack.api_key}"}, timeout=30
    ) as c:
        yield c


def _shape(value: Any) -> Any:
    """The keys and value types of an answer, lists by their first item: what a client parses."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


def _without_hit_usage(shape: Any) -> Any:
    """A hit's usage says what the request cost (`cost: 0.0`, no cached tokens: cache/answer.py
    with_hit_cost_body): not a shape of its own."""
    usage = dict(shape.get("usage") or {})
    usage.pop("cost", None)
    usage.pop("prompt_tokens_details", None)
    usage.pop("input_tokens_details", None)
    return {**shape, "usage": usage}


def _twice(client: httpx.Client, path: str, body: dict[str, Any]) -> list[httpx.Response]:
    """The request as a fresh one, then (the same again) as a cache hit where it may be one."""
    return [client.post(path, json=body) for _ in range(2)]


def _error_names(r: httpx.Response, param: str) -> None:
    assert r.status_code == 400, r.text
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["param"] == param, r.text


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", list(CHAT))
def test_chat_answers_and_their_hits_match_the_spec(
    client: httpx.Client, model: str, kind: str
) -> None:
    body = {"model": model, **CHAT[kind]}
    if model == CLAUDE and kind in REFUSED_BY_CLAUDE:
        for r in _twice(client, "/chat/completions", body):
            _error_names(r, REFUSED_BY_CLAUDE[kind])
        return
    fresh, again = _twice(client, "/chat/completions", body)
    shapes = []
    for r in (fresh, again):
        assert r.status_code == 200, r.text
        answer = check_completion(r.content)  # the spec's schema and the SDK's type
        assert len(answer.choices) == CHAT[kind].get("n", 1)
        if kind == "tools":
            assert answer.choices[0].message.tool_calls, r.text
        shapes.append(_without_hit_usage(_shape(r.json())))
    if kind == "plain":  # the cache is on: an identical request is a hit
        assert again.headers["x-arbiter-cache"] == "hit", dict(again.headers)
    if again.headers.get("x-arbiter-cache") == "hit":
        assert shapes[0] == shapes[1], (shapes[0], shapes[1])
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    for r in _twice(client, "/chat/completions", streamed):
        assert r.status_code == 200, r.text
        chunks, done = openai_chunks(r.content)  # each: the spec's schema and the SDK's type
        assert done and chunks and not any("error" in c for c in chunks), r.text[-500:]
        assert chunks[-1]["usage"] is not None and chunks[-1]["choices"] == []


def _response_events(raw: bytes) -> list[dict[str, Any]]:
    events = []
    for name, data in sse(raw):
        event = orjson.loads(data)
        assert name == event["type"], (name, event)
        validate_response_event(event)  # its own schema and ResponseStreamEvent
        events.append(event)
    return events


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", list(RESPONSES))
def test_responses_and_their_events_match_the_spec(
    client: httpx.Client, model: str, kind: str
) -> None:
    body = {"model": model, **RESPONSES[kind]}
    fresh, again = _twice(client, "/responses", body)
    shapes = []
    for r in (fresh, again):
        assert r.status_code == 200, r.text
        validate("Response", r.json())
        Response.model_validate(r.json())
        shapes.append(_without_hit_usage(_shape(r.json())))
    if kind == "plain":  # the cache is on: an identical request is a hit
        assert again.headers["x-arbiter-cache"] == "hit", dict(again.headers)
    if again.headers.get("x-arbiter-cache") == "hit":
        assert shapes[0] == shapes[1], (shapes[0], shapes[1])
    for r in _twice(client, "/responses", {**body, "stream": True}):
        assert r.status_code == 200, r.text
        events = _response_events(r.content)
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "response.completed", events[-1]
        validate("Response", events[-1]["response"])


def test_embeddings_in_float_and_base64_match_the_spec(client: httpx.Client) -> None:
    body = {"model": OPENAI, "input": ["the tide", "comes in"]}
    floats = client.post("/embeddings", json={**body, "encoding_format": "float"})
    assert floats.status_code == 200, floats.text
    validate("CreateEmbeddingResponse", floats.json())
    CreateEmbeddingResponse.model_validate(floats.json())
    packed = client.post("/embeddings", json={**body, "encoding_format": "base64"})
    assert packed.status_code == 200, packed.text
    data = packed.json()
    for item, plain in zip(data["data"], floats.json()["data"], strict=True):
        raw = base64.b64decode(item["embedding"], validate=True)  # float32, little-endian
        assert len(raw) == 4 * len(plain["embedding"])
        assert struct.unpack(f"<{len(raw) // 4}f", raw) == pytest.approx(plain["embedding"])
        item["embedding"] = plain["embedding"]  # the spec types it as the array only
    validate("CreateEmbeddingResponse", data)
    _error_names(client.post("/embeddings", json={**body, "model": CLAUDE}), "model")


def test_legacy_completions_match_the_spec(client: httpx.Client) -> None:
    body = {"model": OPENAI, "prompt": "Say hello.", "max_tokens": 20}
    for r in _twice(client, "/completions", body):
        assert r.status_code == 200, r.text
        validate("CreateCompletionResponse", r.json())
        Completion.model_validate(r.json())
    r = client.post("/completions", json={**body, "stream": True})
    frames = [data for _, data in sse(r.content)]
    assert frames[-1] == b"[DONE]"
    chunks = [orjson.loads(f) for f in frames[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    for chunk in chunks:
        choices = [{**c, "finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]]
        validate("CreateCompletionResponse", {**chunk, "choices": choices})
        Completion.model_validate({**chunk, "choices": choices})
    _error_names(client.post("/completions", json={**body, "model": "auto"}), "model")


def test_models_list_and_retrieve_match_the_spec(client: httpx.Client) -> None:
    listed = client.get("/models")
    assert listed.status_code == 200, listed.text
    validate("ListModelsResponse", listed.json())
    ids = [m["id"] for m in listed.json()["data"]]
    assert {"auto", OPENAI, CLAUDE} <= set(ids)
    for model in ids:
        r = client.get(f"/models/{model}")
        assert r.status_code == 200, r.text
        validate("Model", r.json())
        assert r.json()["id"] == model
    missing = client.get("/models/no-such-model")
    assert missing.status_code == 404
    validate("ErrorResponse", missing.json())
    assert missing.json()["error"]["param"] == "model"


# Rarely used fields of CreateChatCompletionRequest, each valid by the spec: answered (validated
# as above), or refused before any call with a 400 naming that field (an Anthropic model cannot
# carry every OpenAI field), never a 5xx, never an upstream's refusal relayed.
RARE: dict[str, Any] = {
    "logit_bias": {"50256": -100},
    "stop": ["\n", "END"],
    "modalities": ["text"],
    "parallel_tool_calls": False,
    "metadata": {f"k{i}": "v" * 512 for i in range(16)},
    "user": "user-1",
    "safety_identifier": "s" * 64,
    "prompt_cache_key": "key-1",
    "prompt_cache_retention": "24h",
    "verbosity": "low",
    "service_tier": "flex",
    "reasoning_effort": "minimal",
    "seed": -(2**63),
    "frequency_penalty": -2,
    "presence_penalty": 2,
    "top_logprobs": 0,
    "store": False,
    "prediction": {"type": "content", "content": "Paris"},
    "web_search_options": {},
}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("field", list(RARE))
def test_rarely_used_fields_are_answered_or_refused_by_name(
    client: httpx.Client, model: str, field: str
) -> None:
    body: dict[str, Any] = {"model": model, "messages": ASK, field: RARE[field]}
    if field == "top_logprobs":
        body["logprobs"] = True
    r = client.post("/chat/completions", json=body)
    if r.status_code == 200:
        check_completion(r.content)
        return
    assert r.status_code == 400, r.text
    validate("ErrorResponse", r.json())
    assert r.json()["error"]["code"] != "upstream_rejected", r.text
    assert r.json()["error"]["param"] in (field, "logprobs"), r.text
