"""The OpenAI surface's request parsing, at every nesting depth and for every kind of role: a
body is either accepted whole (and can be forwarded) or refused as the caller's 400."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from arbiter.errors import InvalidRequest
from arbiter.surfaces.openai_chat import parse_chat_request

HEAD = b'{"model":"auto","messages":[{"role":"user","content":"hi"}],"x":'


@pytest.mark.parametrize("shape", [(b"[", b"]"), (b'{"a":', b"}")])
def test_every_depth_is_accepted_and_forwardable_or_a_400(shape: tuple[bytes, bytes]) -> None:
    opener, closer = shape
    leaf = b"1" if opener.startswith(b"{") else b""
    for depth in range(1, 2001):
        raw = HEAD + opener * depth + leaf + closer * depth + b"}"
        try:
            req = parse_chat_request(raw)
        except InvalidRequest:
            assert depth >= 254, depth  # the body is one level more than `x`
            continue
        assert depth < 254, depth
        orjson.dumps({**req.body, "model": "m"})  # what the upstream call does: must not raise


def test_few_brackets_skip_the_depth_probe_but_deep_text_is_fine() -> None:
    text = "[" * 100_000  # brackets inside a string are not nesting
    req = parse_chat_request(
        orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": text}]})
    )
    assert req.prompt_text == text


@pytest.mark.parametrize("role", [{}, [None], ["user"], None, 1, 1.5, True, "", "USER", "robot"])
def test_a_role_that_is_not_one_of_the_names_is_a_400(role: Any) -> None:
    body = orjson.dumps({"model": "auto", "messages": [{"role": role, "content": "hi"}]})
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body)
    assert info.value.param == "messages[0].role"


@pytest.mark.parametrize(
    "field",
    ["stream", "max_tokens", "max_completion_tokens", "n", "response_format", "stream_options"],
)
def test_null_is_unset(field: str) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], field: None}
    req = parse_chat_request(orjson.dumps(body))
    assert req.stream is False and req.max_tokens is None


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "function", "function": {"name": "f", "paramters": SCHEMA}},
         "tools[0].function.paramters"),
        ({"type": "function", "function": {"name": "f"}, "strict": True}, "tools[0].strict"),
    ],
)  # fmt: skip
def test_an_unknown_field_of_a_function_tool_is_a_400(tool: dict[str, Any], param: str) -> None:
    """Before: a chat function tool's unknown field was not read, so a misspelt `parameters`
    sent the tool with no arguments (a 200, the model calling f({})), where the Responses API's
    is a 400. Now the same 400 (`Unknown parameter`, OpenAI's); the spec's fields pass, and a
    tool of another type is left to its server."""
    user = [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(orjson.dumps({"model": "auto", "messages": user, "tools": [tool]}))
    assert info.value.param == param
    assert info.value.message == f"Unknown parameter: '{param}'."
    spelt = {"type": "function", "function": {"name": "f", "description": "d",
                                             "parameters": SCHEMA, "strict": False}}  # fmt: skip
    other = {"type": "web_search", "anything": 1}
    body = {"model": "auto", "messages": user, "tools": [spelt, other]}
    assert parse_chat_request(orjson.dumps(body)).stream is False
