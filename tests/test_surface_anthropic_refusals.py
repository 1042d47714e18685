"""Anthropic at both edges, in process: what /v1/messages refuses, and how. Auth (x-api-key or
Bearer; a bad key is Anthropic's 401), bad input (Anthropic-shaped 4xx that reaches no upstream),
and requests one protocol cannot carry (a 400 naming the feature for a pinned model; ineligible
when routed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.inproc import ANTHROPIC_VERSION, InProcess
from tests.sdk_clients import (
    check_anthropic_error,
    check_completion,
    check_message,
    sdks,
    sim_requests,
)
from tests.test_surface_anthropic import CLAUDE, DOCUMENT, GPT, THINKING, USER, decision, run

# -- auth --------------------------------------------------------------------------------


def test_auth_by_x_api_key_or_bearer_and_a_bad_key_is_anthropics_401(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        req = {"model": CLAUDE, "max_tokens": 50, "messages": USER}
        for headers in ({"x-api-key": sc.api_key, **ANTHROPIC_VERSION}, sc.anthropic):
            r = await sc.client.post("/v1/messages", json=req, headers=headers)
            assert r.status_code == 200, r.text
            check_message(r.content)
        async with sdks(sc, x_api_key=True) as (claude, _):
            message = await claude.messages.create(model=CLAUDE, max_tokens=10, messages=USER)  # type: ignore[arg-type]
            assert message.content
        before = await sim_requests(sc)
        for headers in ({"x-api-key": "sk-wrong"}, {"authorization": "Bearer sk-wrong"}, {}):
            headers = {**headers, **ANTHROPIC_VERSION}
            r = await sc.client.post("/v1/messages", json=req, headers=headers)
            check_anthropic_error(r, 401, "authentication_error")
            r = await sc.client.post("/v1/messages/count_tokens", json=req, headers=headers)
            check_anthropic_error(r, 401, "authentication_error")
        async with sdks(sc, api_key="sk-wrong") as (claude, _):
            with pytest.raises(anthropic.AuthenticationError) as info:
                await claude.messages.create(model="auto", max_tokens=10, messages=USER)  # type: ignore[arg-type]
        assert info.value.status_code == 401
        assert await sim_requests(sc) == before

    run(tmp_path, body)


# -- bad input ---------------------------------------------------------------------------

OK_TURN = {"role": "user", "content": "hi"}
TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
BAD_BODIES: dict[str, dict[str, Any]] = {
    "missing max_tokens": {"model": "auto", "messages": [OK_TURN]},
    "max_tokens not a number": {"model": "auto", "max_tokens": "10", "messages": [OK_TURN]},
    "no messages": {"model": "auto", "max_tokens": 10, "messages": []},
    "missing model": {"max_tokens": 10, "messages": [OK_TURN]},
    "unknown block type": {
        "model": "auto", "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "hologram", "text": "x"}]}],
    },
    "text block without text": {
        "model": "auto", "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "text"}]}],
    },
    "tool_use in a user turn": {
        "model": "auto", "max_tokens": 10,
        "messages": [{"role": "user", "content": [TOOL_USE]}],
    },
    "tool_result without its tool_use": {
        "model": "auto", "max_tokens": 10,
        "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "42"}]}],
    },
    "only a system message, no user or assistant one": {
        "model": "auto", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}],
    },
    "role tool": {"model": "auto", "max_tokens": 10,
                  "messages": [{"role": "tool", "content": "x"}]},
    "role not a string": {"model": "auto", "max_tokens": 10,
                          "messages": [{"role": 1, "content": "x"}]},
    "empty content list": {"model": "auto", "max_tokens": 10,
                           "messages": [{"role": "user", "content": []}]},
    "empty content string": {"model": "auto", "max_tokens": 10,
                             "messages": [{"role": "user", "content": ""}]},
    "empty text block": {"model": "auto", "max_tokens": 10,
                         "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
    "image without source": {
        "model": "auto", "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "image"}]}],
    },
    "system not text": {"model": "auto", "max_tokens": 10, "system": 5, "messages": [OK_TURN]},
    "tools not a list": {"model": "auto", "max_tokens": 10, "tools": "f", "messages": [OK_TURN]},
    "unknown model": {"model": "no-such-model", "max_tokens": 10, "messages": [OK_TURN]},
}  # fmt: skip


def test_bad_input_is_an_anthropic_4xx_and_reaches_no_upstream(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        for case, req in BAD_BODIES.items():
            for stream in (False, True):
                r = await sc.client.post(
                    "/v1/messages", json={**req, "stream": stream}, headers=sc.anthropic
                )
                status = 404 if case == "unknown model" else 400
                kind = "not_found_error" if status == 404 else "invalid_request_error"
                assert r.status_code == status, (case, r.status_code, r.text)
                check_anthropic_error(r, status, kind)
        raws = {
            "not JSON": b"{not json",
            "a JSON array": b"[1, 2]",
            "empty": b"",
            "deep nesting": b'{"model":"auto","max_tokens":10,"messages":[{"role":"user",'
            b'"content":"hi"}],"metadata":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
            "invalid UTF-8": b'{"model":"auto","max_tokens":10,"messages":[{"role":"user",'
            b'"content":"\xff\xfe"}]}',
        }
        for case, raw in raws.items():
            r = await sc.client.post(
                "/v1/messages",
                content=raw,
                headers={**sc.anthropic, "content-type": "application/json"},
            )
            assert r.status_code == 400, (case, r.status_code, r.text)
            check_anthropic_error(r, 400, "invalid_request_error")
        limit = sc.services.settings.server.max_body_bytes
        huge = orjson.dumps(
            {"model": "auto", "max_tokens": 10,
             "messages": [{"role": "user", "content": "x" * (limit + 1)}]}
        )  # fmt: skip
        r = await sc.client.post("/v1/messages", content=huge, headers=sc.anthropic)
        check_anthropic_error(r, 413, "request_too_large")
        r = await sc.client.post("/v1/messages/count_tokens", content=huge, headers=sc.anthropic)
        check_anthropic_error(r, 413, "request_too_large")
        # Anthropic's paths answer in Anthropic's shape even where no route matches
        r = await sc.client.get("/v1/messages", headers=sc.auth)
        check_anthropic_error(r, 405, "invalid_request_error")
        r = await sc.client.post("/v1/messages/batches", json={}, headers=sc.anthropic)
        check_anthropic_error(r, 404, "not_found_error")
        assert await sim_requests(sc) == 0, "bad input reached an upstream"

    run(tmp_path, body)


# -- what one protocol cannot carry ---------------------------------------------------------


def test_a_named_model_that_cannot_serve_a_feature_is_a_400_naming_it(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/v1/chat/completions", json={"model": CLAUDE, "messages": USER, "n": 2},
            headers=sc.auth,
        )  # fmt: skip
        assert r.status_code == 400, r.text
        assert CLAUDE in r.json()["error"]["message"] and "n > 1" in r.json()["error"]["message"]
        cases = {
            "thinking": {"thinking": THINKING, "max_tokens": 2000, "messages": USER},
            "document": {
                "max_tokens": 50,
                "messages": [
                    {"role": "user", "content": [DOCUMENT, {"type": "text", "text": "?"}]}
                ],
            },
        }
        for feature, req in cases.items():
            r = await sc.client.post(
                "/v1/messages", json={"model": GPT, **req}, headers=sc.anthropic
            )
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert GPT in message and feature in message, message
            # the same request to the Anthropic-protocol model is relayed as is
            ok = await sc.client.post(
                "/v1/messages", json={"model": CLAUDE, **req}, headers=sc.anthropic
            )
            assert ok.status_code == 200, (feature, ok.text)
        async with sdks(sc) as (_, gpt):
            with pytest.raises(openai.BadRequestError):
                await gpt.chat.completions.create(model=CLAUDE, messages=USER, n=2)  # type: ignore[arg-type]

    run(tmp_path, body)


def test_with_auto_the_models_that_cannot_serve_it_are_ineligible(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": USER, "n": 2},
            headers=sc.auth,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.headers["x-arbiter-model"] != CLAUDE
        row = await decision(sc, r.headers["x-arbiter-decision-id"])
        claude = next(c for c in row["candidates"] if c["model"] == CLAUDE)
        assert claude["eligible"] is False and "n > 1" in claude["why_not"], claude
        r = await sc.client.post(
            "/v1/messages",
            json={"model": "auto", "thinking": THINKING, "max_tokens": 2000, "messages": USER},
            headers=sc.anthropic,
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-arbiter-model"] == CLAUDE  # the only model that speaks Anthropic
        check_message(r.content)
        row = await decision(sc, r.headers["x-arbiter-decision-id"])
        for c in row["candidates"]:
            if c["model"] != CLAUDE:
                assert c["eligible"] is False and "thinking" in c["why_not"], c

    run(tmp_path, body)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": "You are terse."}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": ""}],
    ],
)
def test_an_openai_request_with_no_turn_anthropic_can_take_stays_on_openai(
    tmp_path: Path, messages: list[dict[str, str]]
) -> None:
    """OpenAI serves a system-only (or empty-turn) request; translated for Anthropic it would
    have no messages at all, which Anthropic refuses: named, the Claude model is a 400 of ours
    (no upstream asked); routed, it is ineligible and an OpenAI model answers."""

    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        req = {"model": CLAUDE, "messages": messages}
        r = await sc.client.post("/v1/chat/completions", json=req, headers=sc.auth)
        assert r.status_code == 400, r.text
        assert CLAUDE in r.json()["error"]["message"], r.text
        assert await sim_requests(sc) == before, "the Claude upstream was asked"
        r = await sc.client.post(
            "/v1/chat/completions", json={**req, "model": "auto"}, headers=sc.auth
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-arbiter-model"] != CLAUDE
        check_completion(r.content)

    run(tmp_path, body)


def test_tools_must_be_a_list_and_tool_choice_needs_tools() -> None:
    from arbiter.errors import InvalidRequest
    from arbiter.surfaces.anthropic_messages import parse_messages_request

    base = {"model": "auto", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    for bad in ({"tools": {}}, {"tool_choice": {"type": "any"}}, {"tools": "x"}):
        with pytest.raises(InvalidRequest):
            parse_messages_request(orjson.dumps({**base, **bad}))
    parse_messages_request(orjson.dumps({**base, "tools": None}))  # null: no tools
    parse_messages_request(orjson.dumps({**base, "tool_choice": {"type": "none"}}))


def test_an_unanswered_tool_call_does_not_cross_to_anthropic() -> None:
    from arbiter.protocols.compat import untranslatable
    from arbiter.protocols.openai import decode_request

    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    call2 = {**call, "id": "c2"}
    asked = [{"role": "user", "content": "go"}, {"role": "assistant", "tool_calls": [call, call2]}]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = {"model": "auto", "tools": tools}
    answered = [
        *asked,
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": "2"},
    ]
    assert untranslatable(decode_request({**body, "messages": answered}), "anthropic") is None
    half = [*asked, {"role": "tool", "tool_call_id": "c1", "content": "1"},
            {"role": "user", "content": "and?"}]  # fmt: skip
    why = untranslatable(decode_request({**body, "messages": half}), "anthropic")
    assert why is not None and "'c2'" in why
