"""Characters of an upstream's stream events, put right before they are relayed.

A server that counts text in UTF-16 (JavaScript) may end one event's string with the escape
"\\ud83d" (the first half of an emoji) and begin the next event's same string with "\\ude00";
one that counts bytes may end it with an emoji's first bytes and send the rest next. orjson
refuses each part; read one by one, each would reach the client as U+FFFD. Here the first part
is held back from its string and put before the same string's text in the next event, so the
client gets the character once, whole. A part whose rest does not come is U+FFFD: when the next
event that speaks of its string's choice lacks the string (a finish or tool-call delta, an
Anthropic content_block_stop), or at the stream's end or failure (`end()`), it goes out on its
own in an event of the same shape, before whatever comes next. Other bytes that are not UTF-8
are U+FFFD too (as in a whole answer: lenient_json), never relayed as they came.

Cost: an event goes past a byte search (and, when it is not ASCII, a UTF-8 check) only when it
holds a surrogate escape or bad bytes or follows a held part; only those are read by Python's
parser and written anew. Used for OpenAI chunks and Anthropic events alike."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.json_depth import nests_deeper_than
from arbiter.upstream import lenient_json

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
        if (
            not self._held
            # \uD800-\uDFFF, either case: the only escapes orjson may refuse (most events hold
            # no escape at all: one search for them)
            and (b"\\u" not in data or (b"\\ud" not in data and b"\\uD" not in data))
            and (data.isascii() or _utf8(data))
        ):
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
                value = lenient_json.read_keeping_surrogates(data, err, "surrogateescape")
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
                text = _paired(before[0], value)
            cut = 0 if last or not text else _first_part(text)
            if cut:  # the rest to come in the next event's same string
                self._held[path] = (text[-cut:], event)
                text = text[:-cut]
            return _bytes_read(text)
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


def _first_part(text: str) -> int:
    """How many characters end `text` with the first part of a character: a high surrogate
    (1), or the first 1-3 bytes of a UTF-8 sequence that came as bytes, not text (read with
    surrogateescape: U+DC80-U+DCFF). 0 when it ends whole."""
    if "\ud800" <= text[-1] <= "\udbff":
        return 1
    i, follow = len(text) - 1, 0
    while i >= 0 and follow < 3 and "\udc80" <= text[i] <= "\udcbf":  # continuation bytes
        i, follow = i - 1, follow + 1
    if i < 0 or not "\udcc2" <= text[i] <= "\udcf4":  # no byte that leads a sequence
        return 0
    lead = ord(text[i]) - 0xDC00
    needed = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return follow + 1 if follow + 1 < needed else 0


def _paired(held: str, text: str) -> str:
    """A held first part before `text`; a high surrogate and the low one that starts `text`
    become their character at once (not read as bytes below)."""
    if (
        len(held) == 1
        and "\ud800" <= held <= "\udbff"
        and text[:1]
        and "\udc00" <= text[0] <= "\udfff"
    ):
        return chr(0x10000 + ((ord(held) - 0xD800) << 10) + (ord(text[0]) - 0xDC00)) + text[1:]
    return held + text


def _bytes_read(text: str) -> str:
    """`text` with the bytes that came as bytes (U+DC80-U+DCFF) read as UTF-8: a character
    whose bytes two events carried is whole again, bytes that make none are U+FFFD. Other
    lone surrogates are left to whole_characters."""
    try:
        text.encode()
        return text  # no surrogates at all: the usual case
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # lone surrogates from escapes too: only the byte runs
        out, run = [], bytearray()
        for c in text:
            if "\udc80" <= c <= "\udcff":
                run.append(ord(c) - 0xDC00)
                continue
            if run:
                out.append(run.decode("utf-8", "replace"))
                run.clear()
            out.append(c)
        out.append(run.decode("utf-8", "replace"))
        return "".join(out)


def _utf8(data: bytes) -> bool:
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
    lies in a list item (an OpenAI choice, a tool call) and the event's same list is not empty
    and does not hold that item (an event of another choice, with n > 1, or of another call:
    parallel calls may interleave, and one call's fragment between the halves of another's
    character made both halves U+FFFD)."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or not value:
                return True
            value = next((v for i, v in enumerate(value) if _place(v, i) == step), None)
            if value is None:
                return False
            continue
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
