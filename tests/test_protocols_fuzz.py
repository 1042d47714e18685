"""Whatever a client or an upstream sends, the codecs answer with the right error class and
never crash: a client's body that is wrong anywhere is an InvalidRequest (a 400, never a 500),
an upstream's garbage is an UpstreamError (which failover handles)."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter import errors as e
from arbiter.protocols import anthropic as anth
from arbiter.protocols import openai as oai
from arbiter.protocols import untranslatable
from tests import anthropic_mock
from tests.test_protocols_anthropic import TOOL_CONVERSATION
from tests.test_protocols_openai import REQUEST

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


def mutated(body: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """`body` with one value anywhere in it replaced by arbitrary JSON (or deleted)."""
    body = copy.deepcopy(body)
    path = data.draw(st.sampled_from(paths(body)))
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if isinstance(node, dict) and data.draw(st.booleans()):
        del node[path[-1]]
    else:
        node[path[-1]] = data.draw(JSON)
    return body


def _decodes_or_400(decode: Any, body: Any) -> None:
    try:
        req = decode(body)
    except e.InvalidRequest:
        return
    for target in ("openai", "anthropic"):  # what decodes, the rest of the codecs take
        if untranslatable(req, target) is None:
            body = (
                oai.encode_request(req, "x")
                if target == "openai"
                else anth.encode_request(req, "x", default_max_tokens=8)
            )
            orjson.dumps(body)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_broken_anthropic_body_is_a_400_or_decodes(data: st.DataObject) -> None:
    _decodes_or_400(anth.decode_request, mutated(TOOL_CONVERSATION, data))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_broken_openai_body_is_a_400_or_decodes(data: st.DataObject) -> None:
    _decodes_or_400(oai.decode_request, mutated(REQUEST, data))


@settings(max_examples=100, deadline=None)
@given(JSON)
def test_any_json_is_a_400_or_decodes(body: Any) -> None:
    _decodes_or_400(anth.decode_request, body)
    _decodes_or_400(oai.decode_request, body)


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("decode", [anth.parse_request, oai.parse_request])
def test_nesting_that_cannot_be_forwarded_is_a_400(decode: Any) -> None:
    """orjson reads 1024 levels but writes 254: such a body must be refused on the way in."""
    for levels in (300, 2000):
        body = '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"x":'
        with pytest.raises(e.InvalidRequest):
            decode((body + _deep(levels) + "}").encode())


def test_deeply_nested_tool_arguments_go_as_text_not_a_crash() -> None:
    """Nesting orjson cannot write goes to Anthropic as the text it came as (`_raw`)."""
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": _deep(300)}}
    req = oai.decode_request(
        {"model": "m", "messages": [{"role": "user", "content": "x"},
                                    {"role": "assistant", "content": None, "tool_calls": [call]},
                                    {"role": "tool", "tool_call_id": "c", "content": "r"}]}
    )  # fmt: skip
    assert untranslatable(req, "anthropic") is None
    body = anth.encode_request(req, "m", default_max_tokens=5)
    assert body["messages"][1]["content"][0]["input"] == {"_raw": _deep(300)}
    orjson.dumps(body)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_upstream_garbage_is_an_upstream_error(data: st.DataObject) -> None:
    message = mutated(anthropic_mock.message("m", "tool"), data)
    with contextlib.suppress(e.UpstreamError):
        anth.decode_response(message)
    completion = {"choices": [{"message": data.draw(JSON), "finish_reason": data.draw(JSON)}]}
    with contextlib.suppress(e.UpstreamError):
        oai.decode_response(completion)


@settings(max_examples=200, deadline=None)
@given(st.lists(JSON | st.binary(max_size=20), min_size=1, max_size=6))
def test_stream_decoders_raise_only_upstream_errors(items: list[Any]) -> None:
    for decoder in (anth.StreamDecoder(), oai.StreamDecoder()):
        try:
            for item in items:
                raw = item if isinstance(item, bytes) else orjson.dumps(item)
                decoder.feed(raw)
        except e.UpstreamError:
            pass
