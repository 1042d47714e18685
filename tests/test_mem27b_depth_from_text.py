"""A request body's depth check reads the text (the Rust core's json_depth, GIL released),
not an `orjson.dumps` of the whole parsed body (a second whole-body pass that held the GIL:
bench/results/mem27b.md); the answers are the same as the dumps gave."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from arbiter import passthrough
from arbiter.errors import InvalidRequest
from arbiter.surfaces.anthropic_messages import parse_messages_request
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.surfaces.openai_responses import parse_responses_request

_SURFACES: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
    "chat": (parse_chat_request, b'"messages":[{"role":"user","content":"hi"}]'),
    "messages": (
        parse_messages_request,
        b'"max_tokens":5,"messages":[{"role":"user","content":"hi"}]',
    ),
    "responses": (parse_responses_request, b'"input":"hi"'),
    "embeddings": (lambda raw: passthrough.parse("embeddings", raw), b'"input":"hi"'),
}


def _body(surface: str, depth: int) -> bytes:
    """A body whose text nests `depth` levels (the top object is one), in a field of its own
    (the depth is checked first: a surface that refuses the field refuses it after)."""
    _, head = _SURFACES[surface]
    value = b"[" * (depth - 1) + b"]" * (depth - 1)
    return b'{"model":"m",' + head + b',"x_nest":' + value + b"}"


def _refused_for_depth(surface: str, raw: bytes) -> bool:
    parse, _ = _SURFACES[surface]
    try:
        parse(raw)
    except InvalidRequest as err:
        return "nested too deeply" in str(err)
    return False


@pytest.mark.parametrize("surface", ["chat", "messages", "responses", "embeddings"])
def test_the_bound_is_where_orjson_writes_back(surface: str) -> None:
    assert not _refused_for_depth(surface, _body(surface, 254))
    assert _refused_for_depth(surface, _body(surface, 255))
    with pytest.raises(orjson.JSONEncodeError):  # the reason for the bound: 255 is not written
        orjson.dumps(orjson.loads(_body(surface, 255)))


def test_a_deep_duplicate_key_overwritten_is_no_deeper_body() -> None:
    # the text nests 300 levels, the body (last key wins) two: it is written back, so served
    deep = b"[" * 299 + b"]" * 299
    raw = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"user":' + deep
    raw += b',"user":"u"}'
    assert parse_chat_request(raw).body["user"] == "u"


@pytest.mark.parametrize("surface", ["chat", "messages", "responses", "embeddings"])
def test_a_large_body_is_not_written_to_check_its_depth(
    surface: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 MB, 3,000 containers (past the bracket count that skipped the check), 5 levels deep
    parse, head = _SURFACES[surface]
    filler = b",".join(b'{"k":["' + b"a" * 600 + b'"]}' for _ in range(1500))
    raw = b'{"model":"m",' + head + b',"x_pad":[' + filler + b"]}"
    written: list[int] = []
    dumps = orjson.dumps

    def spy(value: Any, *args: Any, **kwargs: Any) -> bytes:
        out = dumps(value, *args, **kwargs)
        written.append(len(out))
        return out

    monkeypatch.setattr(orjson, "dumps", spy)
    try:
        parse(raw)
    except InvalidRequest as err:  # an unknown field: refused after the depth check
        assert "nested" not in str(err)
    assert not [n for n in written if n > len(raw) // 2], written
