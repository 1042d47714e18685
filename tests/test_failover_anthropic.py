"""Failover across protocols, in process: a mock Anthropic upstream (tests/anthropic_mock.py, a real
loopback server) next to the simulator's OpenAI models. A fault before the first token fails over
to the OpenAI model; one after it ends the client's stream with one terminal error event in the
client's protocol. And a tool-use round trip from an OpenAI client through the Anthropic mock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter.offline.demo import API_KEY_ENV
from tests import anthropic_mock
from tests.anthropic_mock import TOOL_INPUT, AnthropicMock, message, stream_frames
from tests.inproc import ANTHROPIC_VERSION, InProcess, sidecar_in_process
from tests.sdk_clients import (
    STREAM_EVENT,
    anthropic_events,
    check_anthropic_error,
    check_completion,
    check_message,
    openai_chunks,
    sdks,
)

CLAUDE = "claude-mock"  # the Anthropic-protocol model (the mock); routing prefers it
FALLBACK = "sim-small"  # the only other routable model, over OpenAI's API
USER = [{"role": "user", "content": "Summarize in two sentences: the tide rises and falls."}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def config_with_mock(mock: AnthropicMock, behaviour: str) -> Callable[[str], str]:
    """The demo config with `claude-mock` (the mock, answering as `behaviour`) preferred by a
    greedy router, `sim-small` its only fallback, and every other sim model off the routes."""

    def edit(text: str) -> str:
        for name in ("sim-tiny", "sim-medium", "sim-premium"):
            i = text.index("capabilities = ", text.index(f"[models.{name}]\n"))
            text = text[:i] + 'capabilities = ["chat", "no-route"]' + text[text.index("\n", i) :]
        text = text.replace("[routing]\n", "[routing]\nexplore = 0.0\n", 1)
        priors = "\n".join(
            f"{t} = 0.999"
            for t in ("code", "math", "extraction", "summarization", "translation", "creative",
                      "chat")
        )  # fmt: skip
        return text + (
            f'\n[upstreams.mock]\nbase_url = "{mock.base_url}"\nprotocol = "anthropic"\n'
            f'api_key_env = "{API_KEY_ENV}"\n\n'
            f'[models.{CLAUDE}]\nupstream = "mock"\nupstream_model = "{behaviour}"\n'
            "price_in_per_mtok = 0.05\nprice_out_per_mtok = 0.1\ncontext_window = 32000\n"
            f'capabilities = ["chat", "json", "tools"]\n[models.{CLAUDE}.priors]\n{priors}\n'
        )

    return edit


def run(
    tmp_path: Path,
    mock: AnthropicMock,
    behaviour: str,
    body: Callable[[InProcess], Awaitable[None]],
) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=config_with_mock(mock, behaviour)
        ) as sc:
            await body(sc)

    asyncio.run(main())


async def attempts(sc: InProcess, r: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The decision's attempts, and the decision."""
    got = await sc.client.get(
        f"/arbiter/decisions/{r.headers['x-arbiter-decision-id']}", headers=sc.admin
    )
    row: dict[str, Any] = got.json()
    return list(row["attempts"]), row


def sent_to_mock(mock: AnthropicMock, behaviour: str) -> list[dict[str, Any]]:
    return [body for _, body in mock.requests if body.get("model") == behaviour]


async def call(sc: InProcess, surface: str, stream: bool, **extra: Any) -> Any:
    if surface == "anthropic":
        req = {"model": "auto", "max_tokens": 200, "messages": USER, "stream": stream, **extra}
        return await sc.client.post(
            "/v1/messages", json=req, headers={"x-api-key": sc.api_key, **ANTHROPIC_VERSION}
        )
    req = {"model": "auto", "messages": USER, "stream": stream, **extra}
    return await sc.client.post("/v1/chat/completions", json=req, headers=sc.auth)


def check_complete(surface: str, stream: bool, body: bytes) -> None:
    """A whole, valid answer in the client's protocol."""
    if surface == "anthropic" and stream:
        kinds = [e["type"] for e in anthropic_events(body)]
        assert kinds[-1] == "message_stop" and "error" not in kinds, kinds
    elif surface == "anthropic":
        assert check_message(body).content
    elif stream:
        chunks, done = openai_chunks(body)
        assert done and not any("error" in c for c in chunks)
    else:
        assert check_completion(body).choices[0].message.content


FAULTS_BEFORE_CONTENT = {
    "rate-limited": (False, True),  # 429 with retry-after: 7 (the model is paused, not waited)
    "overloaded": (False, True),  # 529 overloaded_error
    "reset-early": (True,),  # the connection cut after message_start, before any content
    "malformed-early": (True,),  # the first event after message_start is not JSON
}


@pytest.mark.parametrize("surface", ["anthropic", "openai"])
@pytest.mark.parametrize("fault", list(FAULTS_BEFORE_CONTENT))
def test_a_fault_before_the_first_token_fails_over_to_the_openai_model(
    tmp_path: Path, mock: AnthropicMock, fault: str, surface: str
) -> None:
    async def body(sc: InProcess) -> None:
        for stream in FAULTS_BEFORE_CONTENT[fault]:
            before = len(sent_to_mock(mock, fault))
            r = await call(sc, surface, stream)
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-model"] == FALLBACK
            check_complete(surface, stream, r.content)
            tried, row = await attempts(sc, r)
            assert row["status"] == "ok" and row["chosen_model"] == FALLBACK
            assert [a["model"] for a in tried][-1] == FALLBACK and tried[-1]["ok"], tried
            failed = [a for a in tried if a["model"] == CLAUDE]
            assert failed and not any(a["ok"] for a in failed), tried
            if fault == "rate-limited" and stream:
                # the 429's retry-after (7 s) paused the model: skipped without a call
                assert [a["error"] for a in failed] == ["upstream_paused"], tried
                assert len(sent_to_mock(mock, fault)) == before
                continue
            if fault == "rate-limited":
                assert failed[0]["status"] == 429 and failed[0]["error"] == "upstream_rate_limited"
                assert len(failed) == 1, "a retry-after beyond max_retry_after_s is not waited"
            if fault == "overloaded":
                assert {a["error"] for a in failed} == {"upstream_unavailable"}, tried
                assert {a["status"] for a in failed} == {529}, "the upstream's own status"
            assert len(sent_to_mock(mock, fault)) > before

    run(tmp_path, mock, fault, body)


FAULTS_AFTER_CONTENT = ("reset", "malformed", "overloaded-event", "no-stop")


@pytest.mark.parametrize("surface", ["anthropic", "openai"])
@pytest.mark.parametrize("fault", FAULTS_AFTER_CONTENT)
def test_a_fault_after_the_first_token_is_one_terminal_error_event(
    tmp_path: Path, mock: AnthropicMock, fault: str, surface: str
) -> None:
    async def body(sc: InProcess) -> None:
        r = await call(sc, surface, True)
        assert r.status_code == 200 and r.headers["x-arbiter-model"] == CLAUDE
        if surface == "anthropic":
            events = anthropic_events(r.content)
            kinds = [e["type"] for e in events]
            assert "content_block_delta" in kinds, kinds  # the first token came through
            assert kinds[-1] == "error" and kinds.count("error") == 1, kinds
            assert "message_stop" not in kinds, kinds
            if fault != "no-stop":  # (no-stop: the upstream's message_delta came, its stop not)
                assert "message_delta" not in kinds, kinds
        else:
            chunks, done = openai_chunks(r.content)
            assert not done, "a failed stream must not end with [DONE]"
            assert any(c.get("choices") and c["choices"][0]["delta"].get("content")
                       for c in chunks[:-1])  # fmt: skip
            assert "error" in chunks[-1] and sum("error" in c for c in chunks) == 1, chunks
            if fault != "no-stop":
                assert not any(
                    c.get("choices") and c["choices"][0].get("finish_reason") for c in chunks
                ), "a stream failed mid-answer must not carry a finish_reason"
        tried, row = await attempts(sc, r)
        assert row["status"] == "failed" and row["chosen_model"] == CLAUDE, row
        assert tried and tried[-1]["model"] == CLAUDE and not tried[-1]["ok"], tried

    run(tmp_path, mock, fault, body)


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [("rate-limited", 429, "rate_limit_error"), ("overloaded", 529, "overloaded_error")],
)
def test_a_named_anthropic_model_that_fails_is_anthropics_error(
    tmp_path: Path, mock: AnthropicMock, fault: str, status: int, kind: str
) -> None:
    """No failover for a pinned model: the client gets the upstream's trouble in its shape."""

    async def body(sc: InProcess) -> None:
        for stream in (False, True):
            r = await call(sc, "anthropic", stream, model=CLAUDE)
            check_anthropic_error(r, status, kind)
            if fault == "rate-limited":  # the upstream's Retry-After, passed on
                assert r.headers.get("retry-after") == "7", r.headers
            r = await call(sc, "openai", stream, model=CLAUDE)
            assert r.status_code == (429 if fault == "rate-limited" else 503), r.text
            if fault == "rate-limited":
                assert r.headers.get("retry-after") == "7", r.headers
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}

    run(tmp_path, mock, fault, body)


def test_same_protocol_is_the_upstreams_bytes(tmp_path: Path, mock: AnthropicMock) -> None:
    async def body(sc: InProcess) -> None:
        r = await call(sc, "anthropic", False)
        assert r.headers["x-arbiter-model"] == CLAUDE
        assert r.content == json.dumps(message("text", "text")).encode()
        check_message(r.content)
        r = await call(sc, "anthropic", True)
        assert r.content == b"".join(stream_frames("text", "text"))
        anthropic_events(r.content)
        # and the usage with cache tokens is priced into the decision
        _, row = await attempts(sc, r)
        assert row["status"] == "ok" and row["cost_usd"] > 0

    run(tmp_path, mock, "text", body)


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def test_tool_use_round_trip_from_an_openai_client(tmp_path: Path, mock: AnthropicMock) -> None:
    async def body(sc: InProcess) -> None:
        first = {"model": CLAUDE, "messages": USER, "tools": TOOLS}
        r = await sc.client.post("/v1/chat/completions", json=first, headers=sc.auth)
        assert r.status_code == 200, r.text
        completion = check_completion(r.content)
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls
        assert calls is not None and len(calls) == 1
        call_ = calls[0]
        assert call_.id == "toolu_01" and call_.type == "function"
        assert call_.function.name == "get_weather"
        assert json.loads(call_.function.arguments) == TOOL_INPUT
        sent = sent_to_mock(mock, "tool")[-1]
        assert sent["tools"][0]["name"] == "get_weather"
        assert sent["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
        # the same as a stream: the tool call's arguments arrive in pieces, the id intact
        stream = await sc.client.post(
            "/v1/chat/completions", json={**first, "stream": True}, headers=sc.auth
        )
        chunks, done = openai_chunks(stream.content)
        assert done
        deltas = [
            tc for c in chunks if c.get("choices")
            for tc in c["choices"][0]["delta"].get("tool_calls") or []
        ]  # fmt: skip
        assert deltas[0]["id"] == "toolu_01"
        assert json.loads("".join(d["function"].get("arguments", "") for d in deltas)) == (
            TOOL_INPUT
        )
        assert chunks[-1]["choices"] == [] or any(
            c.get("choices") and c["choices"][0].get("finish_reason") == "tool_calls"
            for c in chunks
        )
        # the follow-up: the assistant turn with its tool call and the tool's result
        follow = {
            "model": CLAUDE,
            "tools": TOOLS,
            "messages": [
                *USER,
                orjson.loads(r.content)["choices"][0]["message"],
                {"role": "tool", "tool_call_id": "toolu_01", "content": "18 degrees, sunny"},
            ],
        }
        r2 = await sc.client.post("/v1/chat/completions", json=follow, headers=sc.auth)
        assert r2.status_code == 200, r2.text
        check_completion(r2.content)
        sent = sent_to_mock(mock, "tool")[-1]
        assistant, result_turn = sent["messages"][1], sent["messages"][2]
        assert assistant["role"] == "assistant"
        uses = [b for b in assistant["content"] if b["type"] == "tool_use"]
        assert uses == [
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": TOOL_INPUT}
        ]
        assert result_turn["role"] == "user"
        results = [b for b in result_turn["content"] if b["type"] == "tool_result"]
        assert len(results) == 1 and results[0]["tool_use_id"] == "toolu_01"
        assert "18 degrees, sunny" in json.dumps(results[0]["content"])

    run(tmp_path, mock, "tool", body)


def test_anthropic_sdk_tool_use_round_trip_streamed(tmp_path: Path, mock: AnthropicMock) -> None:
    """The anthropic SDK's own stream accumulator reassembles the tool call from the relayed
    input_json_delta events; its tool_result follow-up reaches the upstream with the same id."""

    async def body(sc: InProcess) -> None:
        tools = [{"name": "get_weather", "input_schema": TOOLS[0]["function"]["parameters"]}]
        async with sdks(sc) as (claude, _):
            async with claude.messages.stream(
                model=CLAUDE, max_tokens=200, messages=USER, tools=tools,  # type: ignore[arg-type]
            ) as stream:  # fmt: skip
                async for event in stream:
                    if event.type not in ("text", "input_json"):
                        STREAM_EVENT.validate_python(event.model_dump())
                final = await stream.get_final_message()
            check_message(final.model_dump_json().encode())
            assert final.stop_reason == "tool_use"
            use = final.content[-1]
            assert use.type == "tool_use" and use.id == "toolu_01" and use.input == TOOL_INPUT
            answer = await claude.messages.create(
                model=CLAUDE,
                max_tokens=200,
                tools=tools,  # type: ignore[arg-type]
                messages=[
                    *USER,  # type: ignore[list-item]
                    {"role": "assistant", "content": final.content},  # type: ignore[list-item]
                    {"role": "user", "content": [  # type: ignore[list-item]
                        {"type": "tool_result", "tool_use_id": use.id, "content": "18 degrees"}]},
                ],
            )  # fmt: skip
            check_message(answer.model_dump_json().encode())
        sent = sent_to_mock(mock, "tool")[-1]["messages"]
        assert sent[1]["content"][-1]["id"] == "toolu_01"
        assert sent[2]["content"][0] == {
            "type": "tool_result", "tool_use_id": "toolu_01", "content": "18 degrees"
        }  # fmt: skip

    run(tmp_path, mock, "tool", body)
