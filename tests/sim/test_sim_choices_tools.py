"""The simulator answers as the real APIs do where it used not to: `n` choices (each billed),
tool calls (forced by `tool_choice`, or likely when the prompt names a tool) with arguments valid
against the tool's JSON schema and the same for the same seed, Anthropic `tool_use` blocks,
`max_tokens: 0` on /v1/completions, and embeddings in the true cost."""

from __future__ import annotations

import json
from random import Random
from typing import Any

import anthropic
import httpx
import jsonschema
import openai
import pytest

from arbiter.offline.sim import SimServer
from arbiter.offline.sim.config import SimConfig
from arbiter.offline.sim.state import count_tokens
from arbiter.offline.sim.tool_calls import instance

from .helpers import ALL_GOOD, AUTH, fast_config, fast_model, sse_data

HELLO = [{"role": "user", "content": "Hello there, how are you today?"}]
WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "hourly": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "where": {
            "type": "object",
            "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}},
            "required": ["lat"],
        },
    },
    "required": ["city", "unit", "days", "where"],
}
FUNCTIONS = [
    {"type": "function", "function": {"name": "get_weather", "description": "A forecast.",
                                      "parameters": WEATHER}},
    {"type": "function", "function": {"name": "lookup_order", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"]}}},
]  # fmt: skip
NAMED = {"type": "function", "function": {"name": "get_weather"}}


def _config() -> SimConfig:
    return fast_config(
        {
            "gpt": fast_model(quality=ALL_GOOD, price_in_per_mtok=2.0, price_out_per_mtok=8.0),
            "claude": fast_model(quality=ALL_GOOD, protocol="anthropic"),
            "judge": fast_model(),
        }
    )


@pytest.fixture
def sim() -> Any:
    with SimServer(_config()) as server:
        yield server


def _post(sim: SimServer, path: str, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(base_url=sim.root_url, headers=AUTH, timeout=10) as c:
        return c.post(path, json=body)


def _cost(sim: SimServer, model: str) -> float:
    return float(sim.state.stats[model].true_cost_usd)


def test_n_choices_each_billed(sim: SimServer) -> None:
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk:
        one = sdk.chat.completions.create(model="gpt", messages=HELLO)  # type: ignore[arg-type]
        before = _cost(sim, "gpt")
        three = sdk.chat.completions.create(model="gpt", messages=HELLO, n=3)  # type: ignore[arg-type]
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert len(one.choices) == 1
    texts = [c.message.content or "" for c in three.choices]
    assert all(texts)
    assert three.usage is not None
    assert three.usage.completion_tokens == sum(count_tokens(t) for t in texts)
    assert three.usage.prompt_tokens == one.usage.prompt_tokens  # type: ignore[union-attr]
    billed = sim.state.profiles["gpt"].cost_usd(three.usage.prompt_tokens,
                                                three.usage.completion_tokens)  # fmt: skip
    assert _cost(sim, "gpt") - before == pytest.approx(billed)
    # streamed: every choice's chunks under its index, each with its finish reason
    body = {"model": "gpt", "messages": HELLO, "n": 2, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    with (
        httpx.Client(base_url=sim.root_url, headers=AUTH, timeout=10) as c,
        c.stream("POST", "/v1/chat/completions", json=body) as r,
    ):
        payloads = sse_data(list(r.iter_lines()))
    chunks = [json.loads(p) for p in payloads[:-1]]
    finished = {ch["index"] for c in chunks for ch in c["choices"] if ch["finish_reason"]}
    assert finished == {0, 1}
    streamed = {i: "".join(ch["delta"].get("content") or "" for c in chunks
                           for ch in c["choices"] if ch["index"] == i) for i in (0, 1)}  # fmt: skip
    assert chunks[-1]["usage"]["completion_tokens"] == sum(map(count_tokens, streamed.values()))
    for bad in (0, 129, "2", True):
        r = _post(sim, "/v1/chat/completions", {"model": "gpt", "messages": HELLO, "n": bad})
        assert r.status_code == 400 and r.json()["error"]["param"] == "n"
    # legacy completions take n too
    r = _post(sim, "/v1/completions", {"model": "gpt", "prompt": "Say hi", "n": 2})
    assert [c["index"] for c in r.json()["choices"]] == [0, 1]


def _arguments(message: Any) -> tuple[str, dict[str, Any]]:
    (call,) = message.tool_calls
    return call.function.name, json.loads(call.function.arguments)


def test_forced_and_likely_tool_calls_valid_against_the_schema(sim: SimServer) -> None:
    schema = {t["function"]["name"]: t["function"]["parameters"] for t in FUNCTIONS}
    ask = [{"role": "user", "content": "Plan my week."}]
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk:

        def create(**more: Any) -> Any:
            return sdk.chat.completions.create(model="gpt", tools=FUNCTIONS, **more)  # type: ignore[arg-type]

        for _ in range(5):
            named = create(messages=ask, tool_choice=NAMED).choices[0]
            assert named.finish_reason == "tool_calls" and named.message.content is None
            name, args = _arguments(named.message)
            assert name == "get_weather"
            jsonschema.validate(args, WEATHER)
        required = create(messages=ask, tool_choice="required").choices[0]
        name, args = _arguments(required.message)
        jsonschema.validate(args, schema[name])
        assert create(messages=ask, tool_choice="none").choices[0].message.tool_calls is None
        assert create(messages=ask).choices[0].message.tool_calls is None  # auto: not asked
        # auto, and the prompt names a tool: the likely call
        likely = create(messages=[{"role": "user", "content": "Please look up order 1234."}])
        name, args = _arguments(likely.choices[0].message)
        assert name == "lookup_order"
        jsonschema.validate(args, schema[name])
        # after the tool's result the model answers in text
        done = create(messages=[
            {"role": "user", "content": "Please look up order 1234."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "lookup_order", "arguments": '{"order_id":"1234"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "shipped"},
        ])  # fmt: skip
        assert done.choices[0].message.tool_calls is None and done.choices[0].message.content
        # n choices: each its own call
        several = create(messages=ask, tool_choice=NAMED, n=3)
        assert all(c.finish_reason == "tool_calls" for c in several.choices)
        assert several.usage is not None
        assert several.usage.completion_tokens == sum(
            count_tokens(c.message.tool_calls[0].function.name  # type: ignore[index]
                         + c.message.tool_calls[0].function.arguments)  # type: ignore[index]
            for c in several.choices
        )  # fmt: skip
        # streamed: the call's name, then its arguments in pieces
        pieces = list(create(messages=ask, tool_choice=NAMED, stream=True))
    deltas = [c.choices[0].delta for c in pieces if c.choices]
    calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert calls[0].function.name == "get_weather" and calls[0].id
    jsonschema.validate(json.loads("".join(tc.function.arguments or "" for tc in calls)), WEATHER)
    assert pieces[-1].choices[0].finish_reason == "tool_calls"
    assert sim.state.stats["gpt"].tool_calls >= 10


def test_the_same_seed_gives_the_same_call() -> None:
    body = {"model": "gpt", "messages": HELLO, "tools": FUNCTIONS, "tool_choice": "required"}
    seen = []
    for _ in range(2):
        with SimServer(_config()) as sim:
            r = _post(sim, "/v1/chat/completions", body)
            seen.append(r.json()["choices"][0]["message"]["tool_calls"][0]["function"])
    assert seen[0] == seen[1]
    # and the text answer without tools is the one it always was (no draw moved)
    with SimServer(_config()) as a, SimServer(_config()) as b:
        plain = _post(a, "/v1/chat/completions", {"model": "gpt", "messages": HELLO}).json()
        offered = _post(b, "/v1/chat/completions",
                        {"model": "gpt", "messages": HELLO, "tools": FUNCTIONS}).json()  # fmt: skip
    assert plain["choices"][0]["message"] == offered["choices"][0]["message"]


def test_anthropic_models_answer_tool_use_blocks(sim: SimServer) -> None:
    tools = [{"name": "get_weather", "description": "A forecast.", "input_schema": WEATHER}]
    with anthropic.Anthropic(base_url=sim.root_url, api_key="k", max_retries=0) as claude:
        forced = claude.messages.create(
            model="claude", max_tokens=200, messages=HELLO,  # type: ignore[arg-type]
            tools=tools, tool_choice={"type": "tool", "name": "get_weather"},  # type: ignore[arg-type,typeddict-item]
        )  # fmt: skip
        assert forced.stop_reason == "tool_use"
        (block,) = forced.content
        assert block.type == "tool_use" and block.name == "get_weather"
        jsonschema.validate(block.input, WEATHER)
        assert block.id.startswith("toolu_")
        any_tool = claude.messages.create(
            model="claude", max_tokens=200, messages=HELLO,  # type: ignore[arg-type]
            tools=tools, tool_choice={"type": "any"},  # type: ignore[arg-type,typeddict-item]
        )  # fmt: skip
        assert any_tool.content[0].type == "tool_use"
        text = claude.messages.create(
            model="claude", max_tokens=200, messages=HELLO, tools=tools,  # type: ignore[arg-type]
        )  # fmt: skip
        assert text.stop_reason == "end_turn" and text.content[0].type == "text"
        with claude.messages.stream(
            model="claude", max_tokens=200, messages=HELLO,  # type: ignore[arg-type]
            tools=tools, tool_choice={"type": "tool", "name": "get_weather"},  # type: ignore[arg-type,typeddict-item]
        ) as stream:  # fmt: skip
            final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    jsonschema.validate(final.content[0].input, WEATHER)


def test_legacy_completions_max_tokens_zero_is_no_text(sim: SimServer) -> None:
    r = _post(sim, "/v1/completions", {"model": "gpt", "prompt": "Write a long story about tea.",
                                       "max_tokens": 0})  # fmt: skip
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["text"] == "" and choice["finish_reason"] == "length"
    assert r.json()["usage"]["completion_tokens"] == 0
    default = _post(sim, "/v1/completions", {"model": "gpt", "prompt": "Write a story about tea."})
    assert 0 < default.json()["usage"]["completion_tokens"] <= 16
    bad = _post(sim, "/v1/completions", {"model": "gpt", "prompt": "x", "max_tokens": -1})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "max_tokens"
    # chat takes no 0 (OpenAI's 400)
    chat = _post(sim, "/v1/chat/completions", {"model": "gpt", "messages": HELLO, "max_tokens": 0})
    assert chat.status_code == 400 and chat.json()["error"]["param"] == "max_tokens"


def test_embeddings_count_in_the_true_cost(sim: SimServer) -> None:
    before = _cost(sim, "gpt")
    r = _post(sim, "/v1/embeddings", {"model": "gpt", "input": ["some text to embed", "more"]})
    tokens = r.json()["usage"]["prompt_tokens"]
    assert tokens > 0
    assert _cost(sim, "gpt") - before == pytest.approx(
        sim.state.profiles["gpt"].cost_usd(tokens, 0)
    )
    assert sim.state.stats_json()["models"]["gpt"]["true_cost_usd"] > 0


@pytest.mark.parametrize(
    "schema",
    [
        WEATHER,
        {"type": "object", "properties": {"x": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                                          "y": {"type": ["string", "null"], "maxLength": 3}},
         "required": ["x", "y"]},
        {"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 0,
                                                "exclusiveMaximum": 1},
                                          "k": {"type": "integer", "maximum": -5},
                                          "d": {"type": "string", "format": "date"},
                                          "l": {"type": "array", "maxItems": 0}},
         "required": ["n", "k", "d", "l"]},
        {"type": "object", "properties": {"a": {"allOf": [{"type": "string"},
                                                          {"minLength": 12}]}},
         "required": ["a"]},
    ],
)  # fmt: skip
def test_arguments_validate_for_every_seed(schema: dict[str, Any]) -> None:
    for seed in range(200):
        jsonschema.validate(instance(schema, Random(seed)), schema)


def test_a_hostile_schema_builds_a_bounded_value() -> None:
    """A client's schema decides the arguments' size: minItems 10**9 nested six deep, or a
    minLength of 10**9, still builds a small value quickly."""
    nested: dict[str, Any] = {"type": "string", "minLength": 10**9}
    for _ in range(8):
        nested = {"type": "array", "items": nested, "minItems": 10**9}
    value = instance({"type": "object", "properties": {"a": nested}, "required": ["a"]}, Random(1))
    assert len(json.dumps(value)) < 10_000_000


def test_legacy_completions_answer_every_prompt_n_times(sim: SimServer) -> None:
    """A prompt array answers len(prompt) x n choices (OpenAI's: prompt i's at indexes
    i*n .. i*n+n-1, each prompt answered on its own), usage for them all, one request; the sim
    gave n choices for the prompts joined into one."""
    prompts = ["Write a story about tea.", "Describe the sea at night.", "Name a river."]
    requests = sim.state.stats["gpt"].requests
    with openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0) as sdk:
        batch = sdk.completions.create(model="gpt", prompt=prompts, n=2, max_tokens=40)
        assert sim.state.stats["gpt"].requests == requests + 1
        assert [c.index for c in batch.choices] == list(range(6))
        assert all(c.text and c.finish_reason for c in batch.choices)
        alone = [sdk.completions.create(model="gpt", prompt=p, max_tokens=40) for p in prompts]
        assert batch.usage is not None  # every prompt's input, and every choice's output
        assert batch.usage.prompt_tokens == sum(o.usage.prompt_tokens for o in alone if o.usage)
        assert batch.usage.completion_tokens >= 6
        stream = sdk.completions.create(
            model="gpt", prompt=prompts, n=2, max_tokens=40, stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        texts: dict[int, str] = {}
        finished: set[int] = set()
        for chunk in stream:
            for c in chunk.choices:
                texts[c.index] = texts.get(c.index, "") + c.text
                if c.finish_reason:
                    finished.add(c.index)
    assert sorted(texts) == list(range(6)) and finished == set(range(6))
    assert all(texts.values())
