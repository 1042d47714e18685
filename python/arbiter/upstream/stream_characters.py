"""A character an OpenAI-protocol upstream cut in two across stream events. A server that
counts text in UTF-16 (JavaScript) may end one chunk's content with the escape "\\ud83d" (the
first half of an emoji) and begin the next chunk's with "\\ude00". orjson refuses each half;
read one by one, each half would reach the client as U+FFFD. Here the first half is held back
from its string and put before the same string's text in the next event, so the client gets
the character once, whole. A half with no partner is U+FFFD (lenient_json.whole_characters);
one held when the next event lacks that string is dropped.

Cost: an event goes past a byte search only when it holds a surrogate escape or follows a held
half; only those orjson refuses (or that take a held half) are read by Python's parser and
written anew."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.upstream import lenient_json

_SURROGATE_ESCAPES = (b"\\ud", b"\\uD")  # \uD800-\uDFFF: the only escapes orjson may refuse
_Path = tuple[str | int, ...]


class SurrogateJoiner:
    """One stream's events in order; `event(data)` is the payload to relay for `data`."""

    def __init__(self) -> None:
        self._held: dict[_Path, str] = {}  # a string's place -> the half cut from its end

    def event(self, data: bytes) -> bytes:
        if not self._held and not any(e in data for e in _SURROGATE_ESCAPES):
            return data
        try:
            value = orjson.loads(data)
            if not self._held:
                return data  # escapes in whole pairs: orjson takes them
        except orjson.JSONDecodeError as err:
            try:
                value = lenient_json.read_keeping_surrogates(data, err)
            except orjson.JSONDecodeError:
                self._held = {}
                return data  # no JSON: the stream's own checks refuse it
        held, self._held = self._held, {}
        value = lenient_json.whole_characters(self._join(value, (), held))
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # nested past what orjson writes
            return data

    def _join(self, value: Any, path: _Path, held: dict[_Path, str]) -> Any:
        if isinstance(value, str):
            joined = held.get(path, "") + value  # a held half: joined, else U+FFFD
            if value and "\ud800" <= value[-1] <= "\udbff":  # a first half, its second to come
                self._held[path] = value[-1]
                return joined[:-1]
            return joined
        if isinstance(value, dict):
            return {k: self._join(v, (*path, k), held) for k, v in value.items()}
        if isinstance(value, list):
            return [self._join(v, (*path, _place(v, i)), held) for i, v in enumerate(value)]
        return value


def _place(item: Any, position: int) -> int:
    """A list item's place: its `index` (choices, tool calls: a chunk may carry only some of
    them), else its position."""
    index = item.get("index") if isinstance(item, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) else position
