"""The stream path's fast paths (issue 18: fewer bytecodes a streamed request) against the code
they replaced, kept here as the reference: the same events, end and errors for every chunking
of generated SSE streams (CRLF, CR, LF, a CRLF split across pieces, comments, event names,
multi-line data, heartbeats, whitespace-only lines, [DONE], a cut last event, a line over the
size limit), and the same chunks relayed for every choice index and content shape."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from arbiter.config import UpstreamSettings
from arbiter.errors import UpstreamError
from arbiter.protocols.openai_response import content_text, unfinished
from arbiter.relay_codec import MAX_CHOICES, OpenAIPassThrough, _StreamedChoice
from arbiter.upstream.http import json_object_read
from arbiter.upstream.openai import _OpenAIStream, read_chunk
from arbiter.upstream.openai_errors import error_in_answer, foreign_event


class _Reference(_OpenAIStream):
    """_split and _pop_event as they were before their fast paths."""

    def _split(self, piece: bytes) -> int:  # (no idle lines dropped: edge23's sse_idle)
        lines = piece.split(b"\n")
        rest = lines.pop()
        if lines:
            if self._partial:
                self._partial.append(lines[0])
                lines[0] = b"".join(self._partial)
            self._partial, self._partial_size = [], 0
            longest = len(lines[0]) if len(piece) <= self._max_line else max(map(len, lines))
            if longest > self._max_line:
                self._too_long()
            self._lines.extend(lines)
        if rest:
            self._partial.append(rest)
            self._partial_size += len(rest)
            if self._partial_size > self._max_line:
                self._too_long()
        return 0

    def _pop_event(self) -> bytes | None:
        if self._ready:
            return self._ready.popleft()
        lines = self._lines
        while lines:
            line = lines.popleft()
            if line.startswith(b"data:"):
                self._data.append(line[5:].strip())
                continue
            if line.strip() or not self._data:
                continue
            if event := self._dispatch(self._payload()):
                return event
            if self.done:
                return self._ready.popleft() if self._ready else None
        if self._eof and self._data:
            return self._dispatch(self._payload())
        return None


class _Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


def _chunk(rng: random.Random, finish: bool = False) -> bytes:
    text = rng.choice(["hi", "", " a b ", "caf\u00e9", "x" * rng.randrange(40), "\\ud83d"])
    reason = '"stop"' if finish else rng.choice(["null", "null", '""'])
    index = rng.choice([0, 0, 0, 1])
    content = orjson.dumps(text).decode()
    choice = f'{{"index":{index},"delta":{{"content":{content}}},"finish_reason":{reason}}}'
    return ('{"id":"c1","choices":[' + choice + "]}").encode()


def _stream(rng: random.Random) -> bytes:
    eol = rng.choice([b"\n", b"\r\n", b"\r", None])
    parts: list[bytes] = []
    if rng.random() < 0.1:
        parts.append(b"\xef\xbb\xbf")
    for _ in range(rng.randrange(1, 8)):
        end = eol or rng.choice([b"\n", b"\r\n", b"\r"])
        kind = rng.random()
        if kind < 0.08:
            parts.append(b": a comment" + end)
        elif kind < 0.14:
            parts.append(b"event: x" + end)
        elif kind < 0.2:
            parts.append(b"data:" + end + end)  # a heartbeat
        elif kind < 0.26:
            parts.append(b"  " + end)  # a whitespace-only line: it ends an event too
        elif kind < 0.34:  # one payload over two data lines
            c = _chunk(rng)
            cut = rng.randrange(1, len(c))
            parts.append(b"data: " + c[:cut] + end + b"data:" + c[cut:] + end + end)
        elif kind < 0.4:  # two events with no blank line between them
            parts.append(b"data: " + _chunk(rng) + end + b"data: " + _chunk(rng) + end + end)
        else:
            sep = rng.choice([b"data: ", b"data:", b"data:  "])
            parts.append(sep + _chunk(rng) + end + rng.choice([end, end, end + end]))
    if rng.random() < 0.5:
        parts.append(b"data: " + _chunk(rng, finish=True) + b"\n\n")
    tail = rng.random()
    if tail < 0.4:
        parts.append(b"data: [DONE]\n\n")
    elif tail < 0.55:
        parts.append(b"data: " + _chunk(rng))  # cut mid-event: no blank line
    return b"".join(parts)


def _chunkings(rng: random.Random, raw: bytes) -> list[list[bytes]]:
    whole = [raw]
    bytewise = [raw[i : i + 1] for i in range(len(raw))]
    at_cr = [p for p in raw.replace(b"\r", b"\r\x00").split(b"\x00") if p]  # pieces end on CR
    cuts = sorted(rng.sample(range(1, len(raw)), min(len(raw) - 1, rng.randrange(1, 12))))
    random_cut = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return [whole, bytewise, at_cr, random_cut]


async def _read(cls: type[_OpenAIStream], pieces: list[bytes], max_line: int) -> Any:
    resp = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=_Pieces(pieces)
    )
    limits = UpstreamSettings("u", "http://127.0.0.1:9/v1", max_event_bytes=max_line)
    stream = cls("m", resp, float("inf"), limits)
    stream.choices = 2
    events: list[bytes] = []
    try:
        while (event := await stream._next_item()) is not None:
            events.append(event)
    except UpstreamError as err:
        return events, stream.done, str(err)
    return events, stream.done, None


@pytest.mark.parametrize("seed", range(4))
def test_events_are_the_references_for_every_chunking(seed: int) -> None:
    rng = random.Random(seed)

    async def main() -> None:
        for _ in range(150):
            raw = _stream(rng)
            max_line = rng.choice([4 * 1024 * 1024, 4 * 1024 * 1024, 60, 120])
            for pieces in _chunkings(rng, raw):
                got = await _read(_OpenAIStream, pieces, max_line)
                assert got == await _read(_Reference, pieces, max_line), (raw, pieces)

    asyncio.run(main())


def test_a_line_over_the_limit_fails_as_before_whatever_the_pieces() -> None:
    """A long line that comes in one long piece, in many short ones, or partly joined."""
    raw = b"data: " + _chunk(random.Random(1)) + b"\n\n"
    long_line = b"data: " + b'{"x":"' + b"y" * 500 + b'"}\n\n'

    async def main() -> None:
        for too_long, stream in (
            (True, raw + long_line),
            (True, long_line + raw),
            (False, raw * 3),
        ):
            for cut in (1, 7, 64, 200, len(stream)):
                pieces = [stream[i : i + cut] for i in range(0, len(stream), cut)]
                got = await _read(_OpenAIStream, pieces, 100)
                assert got == await _read(_Reference, pieces, 100)
                assert (got[2] is not None) == too_long

    asyncio.run(main())


def _old_read_chunk(raw: bytes, model: str) -> tuple[dict[str, Any], bool]:
    chunk, exact = json_object_read(raw, model, "chunk in the stream")
    if "error" in chunk:
        raise error_in_answer(model, chunk, raw)
    if (foreign := foreign_event(model, chunk)) is not None:  # (edge23: no chunk at all)
        raise foreign
    return chunk, exact


@pytest.mark.parametrize(
    "raw",
    [b'{"choices":[],"a":1}', b"[1]", b'"s"', b"null", b"{", b"", b'{"choices":[],"cost": NaN}',
     b'{"choices":[],"a":"\\ud83d"}', b'{"choices":[],"a":"\xff"}', b'{"error":{"message":"x"}}',
     b"1e999", b'{"choices":[],"a":Infinity}', b" {} ", b'{"type":"message_start"}'],
)  # fmt: skip
def test_read_chunk_reads_as_the_old_chain(raw: bytes) -> None:
    def outcome(read: Any) -> str:
        try:
            return repr(read(raw, "m"))  # repr: NaN equals itself there
        except UpstreamError as err:
            return f"{type(err).__name__}: {err} {err.status}"

    assert outcome(read_chunk) == outcome(_old_read_chunk)


class _OldChoice(_StreamedChoice):
    def take(self, choice: dict[str, Any], model: str) -> bool:
        changed = False
        delta = choice.get("delta")
        text = content_text(delta.get("content")) if isinstance(delta, dict) else None
        if delta is None and isinstance(choice.get("text"), str):
            text = choice["text"]
        if isinstance(text, str):
            self.parts.append(text)
        elif isinstance(delta, dict) and "tool_calls" in delta:
            changed = self._number_calls(delta["tool_calls"])
            self.calls.openai_delta(delta["tool_calls"])
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            if (failure := unfinished(model, reason)) is not None:
                raise failure
            self.finish = reason
        return changed


class _OldPassThrough(OpenAIPassThrough):
    """feed as it was: the choice a chunk's piece goes to always chosen by `_choice`."""

    def __init__(self) -> None:
        super().__init__("m", include_usage=True, fallback_id="f")
        self._choices = {0: _OldChoice()}

    def feed(self, item: bytes) -> bytes:
        chunk, exact = read_chunk(item, self._model)
        changed = chunk.get("id") != self._id and self._fill_id(chunk)
        changed |= not exact
        self._last = chunk
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            for choice in choices:
                if isinstance(choice, dict):
                    changed |= self._choice(choice.get("index")).take(choice, self._model)
            if chunk.get("usage") is not None:
                changed |= self._mend_usage(chunk, own_chunk=False)
        elif chunk.get("usage") is not None:
            if not self._include_usage:
                return b""
            changed |= self._mend_usage(chunk, own_chunk=True)
        if changed:
            item = orjson.dumps(chunk)
        if b"\n" in item:
            item = item.replace(b"\n", b"\ndata: ")
        return b"data: " + item + b"\n\n"

    def _choice(self, index: Any) -> _StreamedChoice:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 < index < MAX_CHOICES:
            return self._choices[0]
        return self._choices.setdefault(index, _OldChoice())


_INDEXES = [0, 1, 2, 0.0, 1.0, False, True, None, "0", -1, 99, [0], {"a": 0}]
_CONTENTS: list[Any] = [
    "t", "", None, 3, ["x"], [{"type": "text", "text": "u"}],
    [{"type": "thinking", "thinking": "z"}, {"type": "text", "text": "v"}],
]  # fmt: skip


def test_feed_relays_and_keeps_what_the_old_choice_lookup_did() -> None:
    rng = random.Random(5)
    for _ in range(300):
        new, old = OpenAIPassThrough("m", include_usage=True, fallback_id="f"), _OldPassThrough()
        for _ in range(rng.randrange(1, 6)):
            choice: dict[str, Any] = {"finish_reason": rng.choice([None, "", "stop"])}
            if rng.random() < 0.9:
                choice["index"] = rng.choice(_INDEXES)
            if rng.random() < 0.15:
                choice["text"] = "legacy"
            elif rng.random() < 0.95:
                choice["delta"] = {"content": rng.choice(_CONTENTS)}
            raw = orjson.dumps({"id": "c", "choices": [choice]})
            assert new.feed(raw) == old.feed(raw)
        assert new.choices_body() == old.choices_body()
        assert (new.parts, new.finish) == (old.parts, old.finish)
