"""Characters of an upstream's stream events, put right before they are relayed.

A server that counts text in UTF-16 (JavaScript) may end one event's string with the escape
"\\ud83d" (the first half of an emoji) and begin the next event's same string with "\\ude00".
orjson refuses each half; read one by one, each would reach the client as U+FFFD. Here the first
half is held back from its string and put before the same string's text in the next event, so
the client gets the character once, whole. A half whose partner does not come is U+FFFD: when
the next event that speaks of its string's choice lacks the string (a finish or tool-call delta,
an Anthropic content_block_stop), or at the stream's end or failure (`end()`), it goes out on
its own in an event of the same shape, before whatever comes next. Bytes that are not UTF-8
are U+FFFD too (as in a whole answer: lenient_json), never relayed as they came.

Cost: an event goes past a byte search (and, when it is not ASCII, a UTF-8 check) only when it
holds a surrogate escape or bad bytes or follows a held half; only those are read by Python's
parser and written anew. Used for OpenAI chunks and Anthropic events alike."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.json_depth import nests_deeper_than
from arbiter.upstream import lenient_json

_SURROGATE_ESCAPES = (b"\\ud", b"\\uD")  # \uD800-\uDFFF: the only escapes orjson may refuse
_Path = tuple[str | int, ...]


class SurrogateJoiner:
    """One stream's event payloads in order; `event(data)` is the payload to relay for `data`,
    after the payloads it leaves in `due` (halves that lost their partner, as U+FFFD)."""

    def __init__(self) -> None:
        # a string's place -> (the half cut from its end, the event it came in)
        self._held: dict[_Path, tuple[str, Any]] = {}
        self.due: list[bytes] = []

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def event(self, data: bytes) -> bytes:
        if not self._held and not any(e in data for e in _SURROGATE_ESCAPES) and _utf8(data):
            return data
        if nests_deeper_than(data):  # no event nests so deep; reading it would recurse as deep
            self.due.extend(self.end())
            return data  # the stream's own checks refuse it
        try:
            value = orjson.loads(data)
            if not self._held:
                return data  # escapes in whole pairs: orjson takes them
        except orjson.JSONDecodeError as err:
            try:
                value = lenient_json.read_keeping_surrogates(data, err)
            except orjson.JSONDecodeError:
                self.due.extend(self.end())
                return data  # no JSON: the stream's own checks refuse it
        held, self._held = self._held, {}
        joined: set[_Path] = set()
        value = self._join(value, (), held, joined, value)
        for path, (half, source) in held.items():
            if path in joined:
                continue
            if _speaks_of(value, path):
                self.due.append(_alone(source, path))
            else:  # an event of another choice: the half still waits for its own
                self._held[path] = (half, source)
        return _written(lenient_json.whole_characters(value), data)

    def end(self) -> list[bytes]:
        """Every half still held, each as U+FFFD in an event of its own (the stream ended)."""
        held, self._held = self._held, {}
        return [_alone(source, path) for path, (_, source) in held.items()]

    def take_due(self) -> list[bytes]:
        due, self.due = self.due, []
        return due

    def _join(
        self,
        value: Any,
        path: _Path,
        held: dict[_Path, tuple[str, Any]],
        joined: set[_Path],
        event: Any,
        last: bool = False,
    ) -> Any:
        """`value` with held halves put before their strings (noted in `joined`), and the
        first halves that end its strings held back (with `event`, their source), except in
        a choice that says it finished (`last`): nothing more comes for it."""
        if isinstance(value, str):
            before = held.get(path)
            text = value
            if before is not None:  # its partner, else U+FFFD (whole_characters)
                joined.add(path)
                text = before[0] + value
            if value and "\ud800" <= value[-1] <= "\udbff" and not last:  # its second to come
                self._held[path] = (value[-1], event)
                return text[:-1]
            return text
        if isinstance(value, dict):
            last = last or bool(value.get("finish_reason"))
            return {
                k: self._join(v, (*path, k), held, joined, event, last) for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                self._join(v, (*path, _place(v, i)), held, joined, event, last)
                for i, v in enumerate(value)
            ]
        return value


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _written(value: Any, data: bytes) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested past what orjson writes
        return data


def _place(item: Any, position: int) -> int:
    """A list item's place: its `index` (choices, tool calls: a chunk may carry only some of
    them), else its position."""
    index = item.get("index") if isinstance(item, dict) else None
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def _speaks_of(value: Any, path: _Path) -> bool:
    """Whether an event that lacks the string at `path` ends it: any event, unless the string
    lies in a list item (an OpenAI choice) and the event's same list is not empty and does not
    hold that item (an event of another choice, with n > 1)."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or not value:
                return True
            return any(_place(v, i) == step for i, v in enumerate(value))
        if not isinstance(value, dict) or step not in value:
            return True
        value = value[step]
    return True


def _alone(source: Any, path: _Path) -> bytes:
    """An event of `source`'s shape whose only text is U+FFFD at `path`: the ids, numbers and
    `type`s on the way down are kept (a client reads the event as it read `source`); other
    text, and whatever lies off the path, is left out."""
    return orjson.dumps(lenient_json.whole_characters(_skeleton(source, path, top=True)))


def _skeleton(value: Any, path: _Path, *, top: bool = False) -> Any:
    if not path:
        return "\ufffd"
    step, rest = path[0], path[1:]
    if isinstance(value, list):
        item = next(v for i, v in enumerate(value) if _place(v, i) == step)
        return [_skeleton(item, rest)]
    kept = {
        k: v
        for k, v in value.items()
        if v is None
        or isinstance(v, int | float | bool)
        or (isinstance(v, str) and (top or k == "type"))
    }
    kept[step] = _skeleton(value[step], rest)
    return kept
