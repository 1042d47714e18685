"""Outside probe, third pass: OpenAI request fields that were forwarded upstream unchecked.

`stream_options.include_usage: "yes"` was read as true; `top_logprobs` above 20 or negative,
`stop` with non-strings or more than 4 entries, `logit_bias` with non-numeric or out-of-range
values or keys that are no token ids, `seed` that is no integer, `max_tokens: 0` next to a valid
`max_completion_tokens`, and for /v1/completions an integer `logprobs` above 5 or a `top_p`
above 1: all went to the upstream (a provider's 400 after routing, another's guess). Each is
now the caller's 400 in OpenAI's error shape, naming the parameter, before any upstream call;
what the spec allows still passes. The Anthropic surface already checked its own fields
(stop_sequences, top_k, temperature in [0, 1]): guarded here in its error shape.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.inproc import InProcess, sidecar_in_process
from tests.openapi_spec import validate
from tests.sdk_clients import sim_requests

CLAUDE = "sim-medium"
GPT = "sim-small"
CHAT = {"model": GPT, "messages": [{"role": "user", "content": "Hi"}]}
LEGACY = {"model": GPT, "prompt": "Hi", "max_tokens": 5}
MESSAGES = {"model": CLAUDE, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}

CHAT_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"stream": True, "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": -1}, "top_logprobs"),
    ({"logprobs": "yes"}, "logprobs"),
    ({"stop": ["a", 1]}, "stop"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": 7}, "stop"),
    ({"logit_bias": {"50256": "high"}}, "logit_bias"),
    ({"logit_bias": {"50256": 101}}, "logit_bias"),
    ({"logit_bias": {"50256": -100.5}}, "logit_bias"),
    ({"logit_bias": {"hello": 1}}, "logit_bias"),
    ({"logit_bias": [1, 2]}, "logit_bias"),
    ({"seed": "42"}, "seed"),
    ({"seed": 4.5}, "seed"),
    ({"seed": True}, "seed"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_completion_tokens": 10, "max_tokens": 0}, "max_tokens"),
    ({"max_completion_tokens": -3}, "max_completion_tokens"),
    ({"n": 1000}, "n"),
    ({"temperature": 2.5}, "temperature"),
    ({"top_p": -0.1}, "top_p"),
    ({"presence_penalty": 3}, "presence_penalty"),
    ({"frequency_penalty": "high"}, "frequency_penalty"),
]
LEGACY_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"stop": ["a", None]}, "stop"),
    ({"stop": ["1", "2", "3", "4", "5"]}, "stop"),
    ({"logit_bias": {"50256": 200}}, "logit_bias"),
    ({"seed": "7"}, "seed"),
    ({"logprobs": 6}, "logprobs"),
    ({"top_p": 1.5}, "top_p"),
    ({"temperature": -1}, "temperature"),
    ({"frequency_penalty": -2.5}, "frequency_penalty"),
]
# what the spec allows goes through (answered by the simulated pool)
CHAT_ALLOWED: list[dict[str, Any]] = [
    {"stop": ["a", "b", "c", "d"], "logit_bias": {"50256": -100, "11": 2.5}, "seed": -(2**63)},
    {"temperature": 2, "top_p": 0, "presence_penalty": -2, "frequency_penalty": 2.0},
    {"stop": "\n", "logprobs": True, "top_logprobs": 0, "max_completion_tokens": 8},
    {"stream": True, "stream_options": {"include_usage": False}, "stop": None, "seed": None},
]
LEGACY_ALLOWED: list[dict[str, Any]] = [{"max_tokens": 0, "logprobs": 5, "stop": ["x"]}]
MESSAGES_REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"stop_sequences": ["a", 3]}, "stop_sequences.1"),
    ({"stop_sequences": "a"}, "stop_sequences"),
    ({"top_k": -1}, "top_k"),
    ({"temperature": 1.5}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
]


def run(tmp_path: Path, body: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            await body(sc)

    asyncio.run(main())


async def refused_in_openai_shape(
    sc: InProcess, path: str, base: dict[str, Any], cases: list[tuple[dict[str, Any], str]]
) -> None:
    before = await sim_requests(sc)
    for extra, param in cases:
        r = await sc.client.post(path, json={**base, **extra}, headers=sc.auth)
        assert r.status_code == 400, (extra, r.text)
        validate("ErrorResponse", r.json())
        assert r.json()["error"]["param"] == param, (extra, r.text)
    assert await sim_requests(sc) == before  # refused before any upstream call


async def allowed(sc: InProcess, path: str, base: dict[str, Any], cases: list[Any]) -> None:
    for extra in cases:
        r = await sc.client.post(path, json={**base, **extra}, headers=sc.auth)
        assert r.status_code == 200, (extra, r.text)


def test_bad_chat_fields_are_a_400_in_openais_shape_and_valid_ones_pass(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await refused_in_openai_shape(sc, "/v1/chat/completions", CHAT, CHAT_REFUSED)
        await allowed(sc, "/v1/chat/completions", CHAT, CHAT_ALLOWED)

    run(tmp_path, body)


def test_bad_completions_fields_are_a_400_in_openais_shape_and_valid_ones_pass(
    tmp_path: Path,
) -> None:
    async def body(sc: InProcess) -> None:
        await refused_in_openai_shape(sc, "/v1/completions", LEGACY, LEGACY_REFUSED)
        await allowed(sc, "/v1/completions", LEGACY, LEGACY_ALLOWED)

    run(tmp_path, body)


def test_bad_messages_fields_are_a_400_in_anthropics_shape(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        for extra, param in MESSAGES_REFUSED:
            r = await sc.client.post(
                "/v1/messages", json={**MESSAGES, **extra}, headers=sc.anthropic
            )
            assert r.status_code == 400, (extra, r.text)
            error = r.json()
            assert error["type"] == "error", r.text
            assert error["error"]["type"] == "invalid_request_error", r.text
            assert param in error["error"]["message"], r.text
        assert await sim_requests(sc) == before

    run(tmp_path, body)
