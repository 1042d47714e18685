"""A large request body is parsed a piece at a time (chunked_json), so the thread that decodes it
hands the GIL to the event loop between pieces: no one orjson call reads more than about two
pieces of it. Before, each surface read the whole body in one orjson call (0.3-0.45 s of GIL for
28 MB of small objects: bench/results/mem27.md). The value and the errors stay orjson's."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from arbiter import chunked_json
from arbiter.errors import InvalidRequest
from arbiter.surfaces.anthropic_messages import parse_messages_request
from arbiter.surfaces.openai_chat import parse_chat_request
from arbiter.surfaces.openai_responses import parse_responses_request

_PARTS = [{"type": "text", "text": "ab"} for _ in range(100)]


@pytest.fixture
def largest_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The byte length of the largest text any orjson.loads call was given."""
    largest = [0]
    real = orjson.loads

    def loads(raw: Any) -> Any:
        largest[0] = max(largest[0], len(raw))
        return real(raw)

    monkeypatch.setattr(orjson, "loads", loads)
    yield largest


def _body(n: int, parts: list[Any]) -> bytes:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": parts} for i in range(n)]
    return orjson.dumps({"model": "m", "max_tokens": 5, "messages": turns})


@pytest.mark.parametrize("parse", [parse_chat_request, parse_messages_request])
def test_a_surface_reads_a_large_body_a_piece_at_a_time(
    largest_read: list[int], parse: Callable[..., Any]
) -> None:
    raw = _body(801, _PARTS)  # 2.3 MB of small objects
    assert len(raw) > 2 * chunked_json.CHUNKED_BYTES
    req = parse(raw, None, 10_000)
    assert len(req.messages) == 801
    assert largest_read[0] <= 2 * chunked_json.PIECE_BYTES + 2


def test_responses_input_is_read_a_piece_at_a_time(largest_read: list[int]) -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": "ab"}] * 100}] * 801
    raw = orjson.dumps({"model": "m", "input": items})
    req = parse_responses_request(raw, None, 10_000)
    assert len(req.messages[0]["content"]) == 80_100  # one user turn: its items run together
    assert largest_read[0] <= 2 * chunked_json.PIECE_BYTES + 2


def test_a_small_body_is_read_whole(largest_read: list[int]) -> None:
    raw = _body(3, _PARTS)
    parse_chat_request(raw, None, 10_000)
    assert largest_read[0] == len(raw)


def _outcome(loads: Callable[[bytes], Any], raw: bytes) -> tuple[Any, ...]:
    try:
        value = loads(raw)
    except orjson.JSONDecodeError as err:
        return ("error", err.msg, err.pos)
    return ("value", orjson.dumps(value), list(value) if isinstance(value, dict) else None)


def test_the_pieces_give_orjsons_value_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random documents, some broken, split into pieces of 16 bytes: the same value (key order,
    the last of a key named twice) or the same error at the same byte as one orjson call."""
    monkeypatch.setattr(chunked_json, "CHUNKED_BYTES", 0)
    monkeypatch.setattr(chunked_json, "PIECE_BYTES", 16)
    rng = random.Random(27)

    def value(depth: int) -> Any:
        r = rng.random()
        if depth > 4 or r < 0.3:
            return rng.choice([1, -2.5e3, 'q"]}', "é\\", None, True, "", 0, 2**63])
        if r < 0.65:
            return [value(depth + 1) for _ in range(rng.randint(0, 5))]
        return {rng.choice(["a", "b", 'c"{']): value(depth + 1) for _ in range(rng.randint(0, 4))}

    seen = {"value": 0, "error": 0}
    for _ in range(1500):
        raw = orjson.dumps({f"k{i}": value(0) for i in range(rng.randint(0, 4))})
        if rng.random() < 0.5:
            raw = raw.replace(b",", b" ,\n ", 1).replace(b":", b" : ", 1)
        if rng.random() < 0.3 and len(raw) > 3:
            i = rng.randrange(len(raw))
            raw = raw[:i] + bytes([rng.choice(b',:[]{}"x 1')]) + raw[i + 1 :]
        want = _outcome(orjson.loads, raw)
        assert _outcome(chunked_json.loads, raw) == want, raw
        seen[want[0]] += 1
    assert min(seen.values()) > 100  # both kinds were tried
    twice = b'{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9], "b": 2, "a": {"x": [10, 11, 12, 13, 14]}}'
    assert _outcome(chunked_json.loads, twice) == _outcome(orjson.loads, twice)


def test_a_large_broken_body_gets_orjsons_error(largest_read: list[int]) -> None:
    raw = _body(801, _PARTS)
    i = raw.index(b",", len(raw) // 2)
    broken = raw[:i] + b" " + raw[i + 1 :]  # a comma missing halfway
    with pytest.raises(InvalidRequest) as err:
        parse_chat_request(broken, None, 10_000)
    try:
        orjson.loads(broken)
    except orjson.JSONDecodeError as whole:
        assert f"({whole.msg} at byte {whole.pos})" in str(err.value)
    deep = b'{"a": ' + b"[" * 1100 + b"]" * 1100 + b', "b": "' + b"x" * (2 << 20) + b'"}'
    with pytest.raises(orjson.JSONDecodeError):  # past orjson's depth, counted from the top
        chunked_json.loads(deep)
