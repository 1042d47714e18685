"""stream_characters.SurrogateJoiner on streams of broken characters: whatever halves, stray
bytes and escapes an upstream's events hold, in whatever order and choice, every payload it
relays (events, the U+FFFD events it adds, the ones at the end) is JSON orjson reads: no lone
surrogate, no byte that is not UTF-8, and never an exception."""

from __future__ import annotations

import random

import orjson

from arbiter.upstream.stream_characters import SurrogateJoiner

_PIECES = (b"a", b"\\ud83d", b"\\ude00", b"\\udc98", b"\xf0", b"\x9f", b"\x98", b"\x80",
           b"\xc3", b"\xa9", b"\xff", b"\\u00e9", "\u00e9".encode(), b"\\\\", b'\\"')  # fmt: skip
_DELTAS = (b'{"content":"@"}', b'{"tool_calls":[{"index":0,"function":{"arguments":"@"}}]}',
           b"{}", b'{"role":"assistant"}')  # fmt: skip


def _event(rng: random.Random) -> bytes:
    text = b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(5)))
    delta = rng.choice(_DELTAS).replace(b"@", text)
    finish = b'"stop"' if rng.random() < 0.15 else b"null"
    choice = b'{"index":%d,"delta":%s,"finish_reason":%s}' % (rng.randrange(2), delta, finish)
    return b'{"id":"c1","choices":[' + choice + b"]}"


def test_every_payload_relayed_is_json_whatever_the_characters() -> None:
    rng = random.Random(11)
    for _ in range(1_000):
        joiner, relayed = SurrogateJoiner(), []
        for _ in range(rng.randrange(1, 6)):
            payload = joiner.event(_event(rng))
            relayed += [*joiner.take_due(), payload]
        relayed += joiner.end()
        for payload in relayed:
            orjson.loads(payload)  # raises for a lone surrogate or bytes that are not UTF-8


def test_events_without_broken_characters_pass_as_they_came() -> None:
    joiner = SurrogateJoiner()
    for raw in (b'{"a": "x"}', '{"a": "caf\u00e9"}'.encode(), b'{"a": "\\ud83d\\ude00"}'):
        assert joiner.event(raw) is raw


def _text(payload: bytes) -> str:
    return str(orjson.loads(payload)["choices"][0]["delta"]["content"])


def _chunk(content: bytes) -> bytes:
    return b'{"choices":[{"index":0,"delta":{"content":"' + content + b'"},"finish_reason":null}]}'


def test_the_fast_path_passes_no_split_character_through() -> None:
    """An event leaves the joiner untouched only without any surrogate escape (either letter
    case, beside other escapes or none) and with whole UTF-8: each split below must still be
    joined by the slow path, not relayed as it came (a lone half: U+FFFD at the client)."""
    splits = [
        (b"a\\uD83D", b"\\uDE00b"),  # upper case escapes (JavaScript's JSON.stringify: lower)
        (b"a\\ud83d", b"\\ude00b"),
        (b"\\u00e9a\\ud83d", b"\\ude00b"),  # another escape first in the same event
        (b"a\\uD83D", b"\\ude00\\u00e9b"),
        (b"a\xf0\x9f", b"\x98\x80b"),  # an emoji's bytes cut in two
    ]
    for first, second in splits:
        joiner = SurrogateJoiner()
        texts = [_text(joiner.event(_chunk(first))), _text(joiner.event(_chunk(second)))]
        assert "".join(texts).replace("\u00e9", "") == "a\U0001f600b", (first, second)
        assert not joiner.take_due() and not joiner.end()
