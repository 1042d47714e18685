"""An embeddings answer read without its vectors: the bytes with each `data[i].embedding` that is
a flat array of numbers written `[0]`, and each that is a base64 string written `""`, which
orjson parses in well under a millisecond where the whole answer (2,048 x 1,536 floats, ~60 MB)
took ~0.3 s holding the GIL, made ~3 M Python floats and raised RSS by ~5x its size. What
Arbiter reads of the answer (the `error` member, `data` as a list of one object per input whose
`embedding` is a list or a string, `usage`) is the same in the skeleton; the client gets the
bytes as they came.

The walk is linear: it jumps between the characters that shape JSON (`[]{}"`) with one-character
searches (no pattern that can backtrack), and a vector's numbers are passed over by C-speed
searches. A vector is checked for its characters only (digits, `+-.eE`, commas, blanks; no
comma at either end): a number's own syntax (`1.2.3`) is left to the client's parser, as in
every answer a proxy relays. Anything else (bytes that are not ASCII, which lenient_json reads; a
vector holding something else: `NaN`, a nested array) gives None: the caller parses the answer
whole (embeddings_answer.py), as before. Pure: no I/O."""

from __future__ import annotations

import re

_SHAPE = re.compile(rb'[\[\]{}"]')  # one character of a set: nothing to backtrack
_COLON = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*")  # after a string: it was a key
_NUMBERS = b"0123456789+-.eE, \t\r\n"
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_BLANKS = b" \t\r\n"
_IN_ITEM = (b"{", b"[", b"{")  # the answer object, its `data` list, one embedding object
_OPEN = {0x7B: b"{", 0x5B: b"["}
_CLOSE = {0x7D: b"{", 0x5D: b"["}


def skeleton(raw: bytes) -> tuple[bytes, int] | None:
    """`raw` with its vectors written as placeholders, and how many were; None when it is no
    text this reads (the caller parses it whole: it may still be a well-formed answer)."""
    if not raw.isascii():
        return None
    out: list[bytes] = []
    kept = 0  # raw[kept:] is not in `out` yet
    pos = 0
    stack: list[bytes] = []
    top_key = b""
    replaced = 0
    while (m := _SHAPE.search(raw, pos)) is not None:
        i = m.start()
        c = raw[i]
        if c != 0x22:  # '"'
            if c in _OPEN:
                stack.append(_OPEN[c])
            elif not stack or stack.pop() != _CLOSE[c]:
                return None
            pos = i + 1
            continue
        end = _string_end(raw, i)
        if end < 0:
            return None
        pos = end + 1
        colon = _COLON.match(raw, pos)
        if colon is None or not stack or stack[-1] != b"{":
            continue  # a value, not a key
        key = raw[i + 1 : end]
        if len(stack) == 1:
            top_key = key
        v = colon.end()
        if key != b"embedding" or top_key != b"data" or tuple(stack) != _IN_ITEM or v >= len(raw):
            pos = v
            continue
        if raw[v] == 0x5B:  # '[': a vector of numbers
            close = raw.find(b"]", v)
            if close < 0 or not _numbers(raw[v + 1 : close]):
                return None
            out += [raw[kept : v + 1], b"0"]
        elif raw[v] == 0x22:  # '"': base64
            close = _string_end(raw, v)
            if close < 0 or raw[v + 1 : close].translate(None, _BASE64):
                pos = v
                continue  # a string of another kind: left as it is, parsed
            out += [raw[kept : v + 1]]
        else:
            pos = v
            continue
        kept = close
        pos = close + 1
        replaced += 1
    out.append(raw[kept:])
    return b"".join(out), replaced


def _string_end(raw: bytes, start: int) -> int:
    """The index of the quote that ends the string opened at `start`, or -1."""
    at = start + 1
    while (q := raw.find(b'"', at)) >= 0:
        slashes = 0
        while raw[q - 1 - slashes] == 0x5C:  # '\\' (the opening quote stops the walk)
            slashes += 1
        if slashes % 2 == 0:
            return q
        at = q + 1
    return -1


def _numbers(inside: bytes) -> bool:
    """The text between a vector's brackets is numbers and commas only (something, with no
    comma at either end); each number's syntax (and `1,,2`) is the client's parser's to read:
    a search for `,,` cost as much as the rest of the walk."""
    body = inside.strip(_BLANKS)
    if not body or inside.translate(None, _NUMBERS):
        return False
    return body[:1] != b"," and body[-1:] != b","
