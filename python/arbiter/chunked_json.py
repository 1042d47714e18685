"""A large JSON request body parsed a piece at a time, so the event loop is not held for all of it.

orjson holds the GIL for a whole parse: a body decoded in a worker thread (surfaces/decode.py)
still stalled the loop for the parse's whole length, 0.3-0.45 s for 28 MB of a million small
objects (bench/results/mem27.md). Past `CHUNKED_BYTES` the Rust core finds, with the GIL
released, where the top object's members and a big array's elements lie
(`_native.json_members`, `json_element_groups`); each piece of about `PIECE_BYTES` is parsed by
orjson, and between pieces the interpreter can hand the GIL to the loop (every switch interval).
A container larger than a piece is split in its turn, at most `MAX_SPLIT_DEPTH` levels down.

The result is orjson's: every piece is orjson's parse, and only the structure between pieces
(brackets, commas, colons, quotes) is the scanner's. Anything the scanner does not expect, any
piece orjson refuses, and a text nested deeper than `MAX_DEPTH` (near orjson's own limit, which
counts from the top) is parsed whole, as before: its error is then orjson's, at its byte.
Smaller bodies are parsed whole (the pieces cost a few percent more: the scan, a copy of each
grouped piece).
"""

from __future__ import annotations

from typing import Any

import orjson

from arbiter import _native

CHUNKED_BYTES = 1 << 20
PIECE_BYTES = 64 * 1024
MAX_SPLIT_DEPTH = 4
MAX_DEPTH = 1000  # orjson refuses past 1024 levels; a split piece counts from its own top


class _Whole(Exception):
    """The text is parsed whole instead."""


def loads(raw: bytes) -> Any:
    """orjson.loads(raw), a piece at a time past CHUNKED_BYTES; raises as orjson does."""
    if len(raw) < CHUNKED_BYTES or raw[:1] != b"{":
        return orjson.loads(raw)
    depth = _native.json_depth(raw)
    if depth is None or depth > MAX_DEPTH:
        return orjson.loads(raw)
    try:
        return _object(raw, 0, len(raw), 0)
    except (_Whole, orjson.JSONDecodeError):
        return orjson.loads(raw)


def _value(raw: bytes, view: memoryview, start: int, end: int, level: int) -> Any:
    if end - start > PIECE_BYTES and level < MAX_SPLIT_DEPTH:
        if raw[start] == 0x7B:  # {
            return _object(raw, start, end, level)
        if raw[start] == 0x5B:  # [
            return _array(raw, view, start, end, level)
    return orjson.loads(view[start:end])


def _object(raw: bytes, start: int, end: int, level: int) -> dict[str, Any]:
    spans = _native.json_members(raw, start, end)
    if spans is None:
        raise _Whole
    view = memoryview(raw)
    out: dict[str, Any] = {}
    for i in range(0, len(spans), 4):
        key = orjson.loads(view[spans[i] : spans[i + 1]])
        out[key] = _value(raw, view, spans[i + 2], spans[i + 3], level + 1)  # last one wins
    return out


def _array(raw: bytes, view: memoryview, start: int, end: int, level: int) -> list[Any]:
    groups = _native.json_element_groups(raw, start, end, PIECE_BYTES)
    if groups is None:
        raise _Whole
    out: list[Any] = []
    for i in range(0, len(groups), 3):
        a, b = groups[i], groups[i + 1]
        if groups[i + 2]:
            out.append(_value(raw, view, a, b, level + 1))
        else:
            out.extend(orjson.loads(b"[" + view[a:b] + b"]"))
    return out
