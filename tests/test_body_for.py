"""What each model is sent: the client's own body on its protocol, else a translation that keeps
the output limit Arbiter enforces (the one the budget reserved for)."""

from __future__ import annotations

import orjson

from arbiter.config import ModelSettings
from arbiter.surfaces.anthropic_messages import parse_messages_request
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.upstream_body import body_for

MODEL = ModelSettings("m", "up", 1.0, 2.0, upstream_model="up-m", max_output_tokens=4096)
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "seed": 3}


def test_same_protocol_is_the_clients_body_plus_the_enforced_limit_under_its_name() -> None:
    req = parse_chat_request(orjson.dumps(CHAT))
    assert body_for(req, MODEL, "openai") is req.body  # untouched, unknown fields and all
    req.max_tokens, req.limit_injected = 300, True
    assert body_for(req, MODEL, "openai") == {**CHAT, "max_completion_tokens": 300}
    assert req.body == CHAT, "the client's body is never rewritten"


def test_a_translated_request_keeps_the_enforced_limit() -> None:
    req = parse_chat_request(orjson.dumps({k: v for k, v in CHAT.items() if k != "seed"}))
    assert body_for(req, MODEL, "anthropic")["max_tokens"] == 4096  # Anthropic needs one
    req.max_tokens, req.limit_injected = 300, True
    body = body_for(req, MODEL, "anthropic")
    assert body["max_tokens"] == 300 and body["model"] == "up-m"
    anthropic = parse_messages_request(
        orjson.dumps({"model": "auto", "max_tokens": 50, "messages": CHAT["messages"]})
    )
    assert body_for(anthropic, MODEL, "openai")["max_completion_tokens"] == 50
    anthropic.max_tokens, anthropic.limit_injected = 20, True  # (Anthropic clients always set one)
    assert body_for(anthropic, MODEL, "openai")["max_completion_tokens"] == 20
