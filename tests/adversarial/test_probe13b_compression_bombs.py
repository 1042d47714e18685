"""Outside probe (thirteenth session): an upstream whose compressed answer is a decompression
bomb.

Arbiter sends no Accept-Encoding, so a server may pick any coding, and may stack them
(`Content-Encoding: gzip, gzip`). httpx's decoders inflate each network read whole before any
byte cap is checked: a 661-byte `gzip, gzip` JSON answer inflated to 300 MB in one call (the
process peaked at 727 MB), and ~10 KB would have been 10 GB. A stream did the same, and so did a
model listing (discovery). Bodies are now decoded in steps of at most 64 KiB
(upstream/content_coding.py), so the response cap stops the bomb; the client gets a clear 502.
A coding Arbiter does not decode (br, zstd) is a 502 naming it, not bytes read as JSON."""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from arbiter import config
from arbiter.config import UpstreamSettings
from arbiter.discovery import ListingError, _fetch_pages
from arbiter.offline.demo import demo_config
from arbiter.preflight import probe
from tests.adversarial.hostile_upstream import response, scripted_upstream
from tests.conftest import ENV
from tests.inproc import raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(120)

INFLATED = 256 << 20  # what the bomb stands for: far past the 1 MiB cap below
_BOMB: dict[bytes, bytes] = {}


def bomb(unit: bytes) -> bytes:
    """`unit` repeated to INFLATED bytes, gzipped twice: about a kilobyte."""
    if unit not in _BOMB:
        _BOMB[unit] = gzip.compress(gzip.compress(unit * (INFLATED // len(unit)), 9), 9)
    return _BOMB[unit]


# The caps, not a timeout, must end each call: a total timeout far above what reading to the cap
# takes even on a loaded host (a 502 from the cap, never the timeout's 504, is what is asserted)
_PATIENT_FAILOVER = (
    "\n[failover]\ntotal_timeout_s = 30.0\nfirst_byte_timeout_s = 20.0\nretries_per_model = 0\n"
)


def _small_caps(port: int) -> Callable[[str], str]:
    edit = raw_openai_upstream(port)
    caps = "[upstreams.raw]\nmax_response_bytes = 1048576\nmax_event_bytes = 65536\n"
    return lambda text: edit(text).replace("[upstreams.raw]\n", caps) + _PATIENT_FAILOVER


async def _peak_during(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, int]:
    tracemalloc.start()
    try:
        result = await call
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("stream", "media", "unit"),
    [
        (False, b"application/json", b"\0"),
        (True, b"text/event-stream", b": keep-alive\n\n"),  # content-free events, for ever
        (True, b"application/json", b" "),  # a stream answered with one JSON body
    ],
)
def test_a_bomb_is_a_502_without_inflating_it(
    tmp_path: Path, stream: bool, media: bytes, unit: bytes
) -> None:
    body = bomb(unit)

    async def answer(writer: asyncio.StreamWriter) -> None:
        head = b"200 OK\r\ncontent-type: " + media + b"\r\ncontent-encoding: gzip, gzip"
        writer.write(response(head, body))

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, calls),
            sidecar_in_process(tmp_path, edit_config=_small_caps(port)) as sc,
        ):
            chat = {
                    "model": "oa-raw", "stream": stream,
                    "messages": [{"role": "user", "content": "Hi"}],
                }  # fmt: skip
            r, peak = await _peak_during(
                sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
            )
        assert calls[0] == 1
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "upstream_error", r.text
        # the bomb stands for 256 MiB; reading it to the 1 MiB cap holds a few MiB at most
        assert peak < 32 << 20, f"peak {peak >> 20} MiB while reading a {len(body)}-byte answer"

    asyncio.run(main())


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_gzip_members_that_inflate_to_nothing_count_as_sent(tmp_path: Path, stream: bool) -> None:
    """The cap counted decoded bytes only: empty gzip members (~20 bytes each, nothing inside)
    streamed past it for ever, each decoded on the event loop, until the total timeout (a 504
    after 30 s here, 120 s by default). What was sent counts too now: a 502 at the cap."""
    members = gzip.compress(b"") * 4096  # ~80 KiB that decode to nothing

    async def answer(writer: asyncio.StreamWriter) -> None:
        media = b"text/event-stream" if stream else b"application/json"
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: " + media
            + b"\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
        )  # fmt: skip
        deadline = time.monotonic() + 20.0  # bounded: the sidecar stops us long before
        while time.monotonic() < deadline:
            writer.write(b"%x\r\n%s\r\n" % (len(members), members))
            await writer.drain()

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, _),
            sidecar_in_process(tmp_path, edit_config=_small_caps(port)) as sc,
        ):
            chat = {
                "model": "oa-raw", "stream": stream,
                "messages": [{"role": "user", "content": "Hi"}],
            }  # fmt: skip
            r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
        # the cap ended it (its own words), while the upstream was still sending: not its 20 s
        # bound, nor the 30 s total timeout (each ends it in other words). An event, not a
        # wall-clock bound (it was `elapsed < 20 s`)
        assert r.status_code == 502, r.text
        assert "compressed body is larger than 1048576 bytes" in r.text, r.text

    asyncio.run(main())


@pytest.mark.parametrize("coding", [b"br", b"zstd"])
def test_a_coding_it_does_not_decode_is_a_502_naming_it(tmp_path: Path, coding: bytes) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        head = b"200 OK\r\ncontent-type: application/json\r\ncontent-encoding: " + coding
        writer.write(response(head, b"\x28\xb5\x2f\xfd not really compressed"))

    async def main() -> None:
        async with (
            scripted_upstream(answer) as (port, _),
            sidecar_in_process(tmp_path, edit_config=_small_caps(port)) as sc,
        ):
            chat = {"model": "oa-raw", "messages": [{"role": "user", "content": "Hi"}]}
            r = await sc.client.post("/v1/chat/completions", json=chat, headers=sc.auth)
        assert r.status_code == 502, r.text
        assert f"Content-Encoding '{coding.decode()}' is not supported" in r.text, r.text

    asyncio.run(main())


def test_a_model_listing_bomb_stops_at_the_listing_limit() -> None:
    body = bomb(b" ")

    async def answer(writer: asyncio.StreamWriter) -> None:
        head = b"200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip, gzip"
        writer.write(response(head, body))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, _):
            up = UpstreamSettings("raw", f"http://127.0.0.1:{port}/v1")
            tracemalloc.start()
            try:
                # stacked codings: stopped by the ratio bound (dos25) before the listing cap
                with pytest.raises(ListingError, match="inflates past 1100 times"):
                    await _fetch_pages(up)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert peak < 64 << 20, f"peak {peak >> 20} MiB"

    asyncio.run(main())


def test_check_config_probe_reads_a_listing_bomb_within_the_listing_limit(tmp_path: Path) -> None:
    """`arbiter check-config --probe` read each upstream's /v1/models whole, with no size cap,
    decoded by httpx (which offers gzip, deflate and zstd): the same bomb inflated in memory."""
    body = bomb(b" ")

    async def answer(writer: asyncio.StreamWriter) -> None:
        head = b"200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip, gzip"
        writer.write(response(head, body))

    async def main() -> list[str]:
        async with scripted_upstream(answer) as (port, _):
            text = raw_openai_upstream(port)(
                demo_config("http://127.0.0.1:9/v1", tmp_path / "a.db")
            )
            settings = config.loads(text, env=ENV)
            tracemalloc.start()
            try:
                problems = await asyncio.to_thread(probe, settings)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert peak < 64 << 20, f"peak {peak >> 20} MiB"
        return problems

    problems = asyncio.run(main())
    assert any("upstreams.raw" in p and "the listing is over" in p for p in problems), problems
