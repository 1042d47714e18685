"""Outside probe: tool call ids that Anthropic refuses, sent to a Claude model after translation.

Anthropic wants every tool_use id unique in the request and made of [a-zA-Z0-9_-]; OpenAI pairs a
`tool` message with a call of the assistant message before it, so an OpenAI conversation may
reuse ids across turns ("call_0" from servers that number calls per answer) or hold other
characters ("functions.get_weather:0", Kimi's), and such a chat request routed to a Claude
model was refused there (a 400 after routing, `upstream_rejected`). The translation now gives
such calls ids Anthropic accepts, each result the id of the call it answers. What no protocol
accepts is the caller's 400 at the edge, in its own shape: an OpenAI `tool` message answering
no call of the assistant message before it, or a call left unanswered before the conversation
goes on (both used to reach an OpenAI model, and its 400 came back after routing), one id on two
calls of one assistant message or a call answered twice (tests/test_duplicate_call_ids.py), an
Anthropic request with two tool_use blocks of one id or an id outside the pattern (Anthropic's
own rules).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from arbiter.protocols import anthropic_encode
from arbiter.protocols import openai as openai_protocol
from tests.inproc import InProcess, sidecar_in_process
from tests.sdk_clients import sim_requests

CLAUDE = "sim-medium"
GPT = "sim-small"
TOOL = {"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}
ASK = {"role": "user", "content": "Weather?"}


def call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "w", "arguments": "{}"}}


def turn(*ids: str) -> list[dict[str, Any]]:
    """An assistant turn calling `ids`, then one `tool` result per call, in order."""
    results = [{"role": "tool", "tool_call_id": i, "content": f"r{n}"} for n, i in enumerate(ids)]
    return [{"role": "assistant", "content": None, "tool_calls": [call(i) for i in ids]}, *results]


REUSED = [ASK, *turn("call_0"), {"role": "user", "content": "And now?"}, *turn("call_0")]
ODD_CHARS = [ASK, *turn("functions.w:0", "functions.w:1")]
SAME_TURN = [ASK, *turn("c1", "c1")]


def _anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    req = openai_protocol.decode_request({"model": "m", "messages": messages, "tools": [TOOL]})
    body = anthropic_encode.encode_request(req, "claude", default_max_tokens=50)
    return body["messages"]  # type: ignore[no-any-return]


def _pairs(messages: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Every tool_use id in order, and each user turn's tool_result ids."""
    uses = [b["id"] for m in messages for b in m["content"] if b["type"] == "tool_use"]
    results = [
        [b["tool_use_id"] for b in m["content"] if b["type"] == "tool_result"]
        for m in messages
        if m["role"] == "user"
    ]
    return uses, [r for r in results if r]


def test_translated_ids_are_unique_and_in_anthropics_pattern() -> None:
    for messages in (REUSED, ODD_CHARS, SAME_TURN):
        uses, results = _pairs(_anthropic_messages(messages))
        assert len(set(uses)) == len(uses), uses
        assert all(u and set(u) <= anthropic_encode.TOOL_ID_CHARS for u in uses), uses
        assert [r for rs in results for r in rs] == uses, (uses, results)  # each answered, in order
    uses, _ = _pairs(_anthropic_messages(REUSED))
    assert uses[0] == "call_0"  # an id Anthropic accepts is kept as it came


def test_each_result_keeps_its_own_content() -> None:
    messages = _anthropic_messages(REUSED)
    results = [b for m in messages for b in m["content"] if b["type"] == "tool_result"]
    assert [r["content"][0]["text"] for r in results] == ["r0", "r0"]  # each turn's own r0
    assert results[0]["tool_use_id"] != results[1]["tool_use_id"]


def _run(tmp_path: Path, body: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            await body(sc)

    asyncio.run(main())


def test_a_claude_model_answers_reused_and_odd_ids(tmp_path: Path) -> None:
    """The sim's Anthropic side checks requests with Arbiter's own Anthropic decoder, which now
    holds Anthropic's id rules: a translation that broke them would be its 400."""

    async def body(sc: InProcess) -> None:
        for messages in (REUSED, ODD_CHARS):  # SAME_TURN: the caller's 400 (below)
            chat = {"model": CLAUDE, "messages": messages, "tools": [TOOL]}
            r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
            assert r.status_code == 200, r.text

    _run(tmp_path, body)


def test_what_no_protocol_accepts_is_the_callers_400_before_any_call(tmp_path: Path) -> None:
    orphan = [ASK, turn("c1")[0], {"role": "tool", "tool_call_id": "zz", "content": "r"}]
    no_call = [ASK, {"role": "tool", "tool_call_id": "c1", "content": "r"}]
    unanswered = [ASK, *turn("c1", "c2")[:2], {"role": "user", "content": "And?"}]  # c2: none
    use = {"type": "tool_use", "name": "w", "input": {}}
    answer = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]}
    twice = [ASK, {"role": "assistant", "content": [{**use, "id": "t1"}, {**use, "id": "t1"}]},
             answer]  # fmt: skip
    again = [ASK, {"role": "assistant", "content": [{**use, "id": "t1"}]}, answer,
             {"role": "assistant", "content": [{**use, "id": "t1"}]}, answer]  # fmt: skip
    odd_answer = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "fn.w:0"}]}
    odd = [ASK, {"role": "assistant", "content": [{**use, "id": "fn.w:0"}]}, odd_answer]

    async def body(sc: InProcess) -> None:
        before = await sim_requests(sc)
        for model in (GPT, CLAUDE, "auto"):
            for messages, param in ((orphan, "messages[2].tool_call_id"),
                                    (no_call, "messages[1].tool_call_id"),
                                    (unanswered, "messages[3].role"),
                                    # one id twice in a turn: which call an answer is for is
                                    # a guess (OpenAI's own 400; was translated for a Claude)
                                    (SAME_TURN, "messages[1].tool_calls[1].id")):  # fmt: skip
                chat = {"model": model, "messages": messages, "tools": [TOOL]}
                r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
                assert r.status_code == 400, r.text
                assert r.json()["error"]["param"] == param, r.text
            for messages in (twice, again, odd):
                msg = {"model": model, "max_tokens": 20, "messages": messages,
                       "tools": [{"name": "w", "input_schema": {"type": "object"}}]}  # fmt: skip
                r = await sc.client.post("/v1/messages", json=msg, headers=sc.anthropic)
                assert r.status_code == 400, r.text
                assert r.json()["error"]["type"] == "invalid_request_error", r.text
        assert await sim_requests(sc) == before, "a refused request reached an upstream"

    _run(tmp_path, body)


def test_responses_input_follows_the_same_rules(tmp_path: Path) -> None:
    """/v1/responses: a function_call without its function_call_output is OpenAI's 400 ("No
    tool output found"; it reached OpenAI models as a chat body they refuse), and call ids
    reused across turns or outside Anthropic's pattern reach a Claude model translated."""
    fn = {"type": "function", "name": "w", "parameters": {"type": "object"}}
    user = {"role": "user", "content": "Weather?"}

    def call_and_output(call_id: str) -> list[dict[str, Any]]:
        call = {"type": "function_call", "call_id": call_id, "name": "w", "arguments": "{}"}
        return [call, {"type": "function_call_output", "call_id": call_id, "output": "sunny"}]

    async def body(sc: InProcess) -> None:
        for items in ([user, *call_and_output("c1"), user, *call_and_output("c1")],
                      [user, *call_and_output("fn.w:0")]):  # fmt: skip
            r = await sc.client.post(
                "/v1/responses", json={"model": CLAUDE, "tools": [fn], "input": items},
                headers=sc.auth,
            )  # fmt: skip
            assert r.status_code == 200, r.text
        await sc.services.learner.drain()  # their judge calls, else counted after `before`
        before = await sim_requests(sc)
        for model in (GPT, CLAUDE, "auto"):
            items = [user, call_and_output("c1")[0], user]
            r = await sc.client.post(
                "/v1/responses", json={"model": model, "tools": [fn], "input": items},
                headers=sc.auth,
            )  # fmt: skip
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "input[1].call_id", r.text
        assert await sim_requests(sc) == before

    _run(tmp_path, body)
