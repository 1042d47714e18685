"""edge23: an upstream stream's lines that carry no event, and events of another protocol.

- Megabytes of blank or `:` lines each cost the SSE reader a Python step, with no await between
  pieces that had come (seconds of event loop for 16 MB): they are dropped a piece at a time
  (sse_idle.py) and an answer holding more than MAX_IDLE_BYTES of them fails, naming them.
- An OpenAI-protocol upstream that streams an Anthropic `message_start` had it relayed to the
  OpenAI client as a chunk: it is a failed call, in the client's shape."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from arbiter.config import UpstreamSettings
from arbiter.errors import UpstreamError
from arbiter.upstream.anthropic import AnthropicStream
from arbiter.upstream.openai import _OpenAIStream
from arbiter.upstream.sse_idle import MAX_IDLE_BYTES
from tests.probe23a_rig import AN, OA, Rig, rig, stream


def _events(cls: type[Any], body: bytes, piece: int = 65536) -> tuple[list[bytes], str | None]:
    async def main() -> tuple[list[bytes], str | None]:
        pieces = [body[at : at + piece] for at in range(0, len(body), piece)]
        resp = httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=httpx.ByteStream(b"")
        )
        resp.stream = _Pieces(pieces)
        s = cls("m", resp, float("inf"), UpstreamSettings("u", "http://127.0.0.1:9/v1"))
        got: list[bytes] = []
        try:
            while (event := await s._next_item()) is not None:
                got.append(event)
        except UpstreamError as err:
            return got, str(err)
        return got, None

    return asyncio.run(main())


class _Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> Any:
        for piece in self._pieces:
            yield piece


@pytest.mark.parametrize("cls,answer", [(_OpenAIStream, OA), (AnthropicStream, AN)])
@pytest.mark.parametrize("line", [b"\n", b":\n", b": keep-alive\r\n", b"\r"])
def test_megabytes_of_lines_without_an_event_fail_naming_them(
    cls: type[Any], answer: bytes, line: bytes
) -> None:
    events, error = _events(cls, line * (16 * 1024 * 1024 // len(line)) + answer)
    assert events == [] and error is not None and "blank or comment lines" in error, error


@pytest.mark.parametrize("cls,answer", [(_OpenAIStream, OA), (AnthropicStream, AN)])
@pytest.mark.parametrize("size", [40, 1000, 100_000])
@pytest.mark.parametrize("piece", [61, 65536])
def test_long_comment_lines_count_against_the_same_bound(
    cls: type[Any], answer: bytes, size: int, piece: int
) -> None:
    """Comment lines of 32 bytes or more are left to the reader (sse_idle: a piece of long
    lines): they were bounded by the 64 MiB response cap alone. Now by MAX_IDLE_BYTES too,
    however the lines are cut into pieces; each one blank-ended, as a heartbeat is."""
    line = b": " + b"x" * (size - 4) + b"\n\n"
    events, error = _events(cls, line * (2 * MAX_IDLE_BYTES // size) + answer, piece)
    assert events == [] and error is not None and "blank or comment lines" in error, error
    # under the bound: the whole answer, as without them
    under, _ = _events(cls, line * (MAX_IDLE_BYTES // size // 2) + answer, piece)
    assert under == _events(cls, answer)[0]


@pytest.mark.parametrize("cls,answer", [(_OpenAIStream, OA), (AnthropicStream, AN)])
@pytest.mark.parametrize("piece", [1, 7, 65536])
def test_heartbeats_and_blank_runs_under_the_bound_change_no_event(
    cls: type[Any], answer: bytes, piece: int
) -> None:
    """Each event of the answer with heartbeats and blank runs around it, however split."""
    plain, error = _events(cls, answer)
    assert error is None and plain
    frames = [f + b"\n\n" for f in answer.split(b"\n\n") if f]
    padded = b"".join(b": ping\n\n\n\n" + f + b":x\n\n\n" for f in frames)
    assert _events(cls, b"\n\n" + padded, piece) == (plain, None)
    # just under the bound, in one run: still the whole answer
    under = b"\n" * (MAX_IDLE_BYTES - len(padded))
    assert _events(cls, under + padded) == (plain, None)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(tmp_path_factory.mktemp("edge23")) as it:
        yield it


def _chat(r: Rig, marker: str) -> Any:
    one = [{"role": "user", "content": marker}]
    return r.oa.chat.completions.with_raw_response.create(model="oa-1", stream=True, messages=one)


def test_a_stream_of_16_mb_of_blank_lines_is_a_502_naming_them(r: Rig) -> None:

    def blanks(sock: socket.socket, path: str, body: dict[str, Any]) -> bool:
        return stream(sock, b"\n" * (16 * 1024 * 1024) + OA, pieces=256)

    m = r.script("blanks", blanks)
    with pytest.raises(openai.APIStatusError) as failed:
        _chat(r, m)
    assert failed.value.status_code == 502
    assert "blank or comment lines" in str(failed.value.body)
    row = r.decision(failed.value.response.headers["x-arbiter-decision-id"])
    assert row["status"] != "ok", row


def test_an_anthropic_stream_from_an_openai_upstream_is_a_502(r: Rig) -> None:
    m = r.script("an_first", lambda sock, path, body: stream(sock, AN))
    with pytest.raises(openai.APIStatusError) as failed:
        _chat(r, m)
    assert failed.value.status_code == 502
    assert "no chat completion chunk" in str(failed.value.body)
    assert "message_start" in str(failed.value.body)


def test_an_anthropic_event_after_the_first_chunk_ends_the_stream_in_error(r: Rig) -> None:
    first = OA.split(b"\n\n")[0] + b"\n\n"
    start = b"event: message_start\ndata: " + orjson.dumps(
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "content": []}}
    )
    m = r.script("an_later", lambda sock, path, body: stream(sock, first + start + b"\n\n" + OA))
    resp = _chat(r, m)
    chunks = []
    with pytest.raises(openai.APIError, match="no chat completion chunk"):
        for c in resp.parse():
            chunks.append(c)
    assert [c.choices[0].delta.content for c in chunks if c.choices] == ["Hel"]
    row = r.decision(resp.headers["x-arbiter-decision-id"])
    for _ in range(100):  # bounded: the record's end is written after the client's last byte
        if row["status"] != "ok":
            break
        time.sleep(0.05)
        row = r.decision(resp.headers["x-arbiter-decision-id"])
    assert row["status"] != "ok", row


@pytest.mark.parametrize("seed", range(2))
def test_idle_runs_anywhere_change_no_event_of_generated_streams(seed: int) -> None:
    """The parity test's generated streams (CR, CRLF, comments, heartbeats, multi-line data,
    a cut last event) with runs of blank and comment lines put between lines, every chunking:
    the events, end and error are the reader's without the dropping (its _Reference)."""
    from tests.test_stream_path_parity import _chunkings, _read, _Reference, _stream

    rng = random.Random(seed)
    runs = [b"\n" * 5, b":\n" * 3, b": ping\n\n\n", b"\n:x\n\n"]

    async def main() -> None:
        for _ in range(60):
            lines = _stream(rng).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
            for at in sorted(rng.sample(range(len(lines)), min(3, len(lines))), reverse=True):
                lines.insert(at, rng.choice(runs).removesuffix(b"\n"))
            raw = b"\n".join(lines)
            for pieces in _chunkings(rng, raw):
                got = await _read(_OpenAIStream, pieces, 4 * 1024 * 1024)
                assert got == await _read(_Reference, pieces, 4 * 1024 * 1024), (raw, pieces)

    asyncio.run(main())
