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
