"""An upstream answer's `Content-Encoding` undone in bounded steps: no step of the decode yields
more than STEP bytes, however much one compressed byte stands for, so the reader's byte cap stops
a decompression bomb after at most the cap plus one step. httpx's decoders inflate each network
read whole: a 661-byte `gzip, gzip` body inflated to 300 MB in one call (10 GB from ~10 KB).

Only gzip (any number of members) and deflate (zlib or raw) are decoded, stacked in any order;
any other coding (br, zstd, compress, ...) is refused by name rather than read as if it were
plain text. This module does no I/O.

However stacked, a body may inflate to at most MAX_RATIO times what was sent (one gzip or
deflate layer cannot pass ~1,032: only a stacked bomb does), and `decoded` hands the loop back
after each full step: a 64 MiB bomb read in one network piece was 1,024 steps in one loop turn
(0.6-0.9 s that every other request waited, bench/results/dos25.md)."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterator

STEP = 64 * 1024  # the most one decode step yields
# the most a body inflates over its bytes as sent (deflate's own bound is ~1,032), past STEP
MAX_RATIO = 1100
_MAX_CODINGS = 4  # more stacked codings than this is no real server's answer
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class CodingError(ValueError):
    """A coding we do not decode, or a body that is not the coding it names."""


class _Inflate:
    """One gzip or deflate layer, fed pieces, yielding pieces of at most STEP bytes."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._wbits = zlib.MAX_WBITS if coding == "deflate" else _GZIP_WBITS
        self._z = zlib.decompressobj(self._wbits)
        self._started = False  # any output yet (deflate's zlib-or-raw guess is made before)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._z.decompress(data, STEP)
            except zlib.error as err:
                if self._coding == "deflate" and not self._started and self._wbits > 0:
                    self._wbits = -zlib.MAX_WBITS  # raw deflate, as some servers send it
                    self._z = zlib.decompressobj(self._wbits)
                    continue
                raise CodingError(f"not valid {self._coding} data ({err})") from None
            self._started = True
            data = self._z.unconsumed_tail
            if self._z.eof and self._coding == "gzip" and self._z.unused_data.strip(b"\0"):
                # RFC 1952: another member follows (NUL padding after the last one is dropped,
                # as are bytes after a deflate stream's end: what httpx's decoders did)
                data = self._z.unused_data
                self._z = zlib.decompressobj(self._wbits)
            if out:
                yield out


def _codings(content_encoding: str) -> list[str]:
    """The codings named, in the order they were applied (`identity` is none)."""
    named = [c.strip().lower() for c in content_encoding.split(",")]
    return ["gzip" if c == "x-gzip" else c for c in named if c and c != "identity"]


def _refusal(codings: list[str]) -> CodingError | None:
    unknown = [c for c in codings if c not in ("gzip", "deflate")]
    if unknown:
        return CodingError(f"Content-Encoding {unknown[0][:40]!r} is not supported")
    if len(codings) > _MAX_CODINGS:
        return CodingError(f"{len(codings)} stacked content codings are too many")
    return None


class Decoder:
    """A body's codings undone, layer by layer, one bounded piece at a time. A coding it does
    not undo is a CodingError at the first piece (where the reader maps its errors)."""

    def __init__(self, codings: list[str]) -> None:
        self._refused = _refusal(codings)
        # the last coding applied is the first undone
        self._layers = [] if self._refused else [_Inflate(c) for c in reversed(codings)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces `data` completes (each at most STEP bytes), lazily: a caller that
        stops reading stops the decode."""
        if self._refused is not None:
            raise self._refused
        pieces: Iterator[bytes] = iter((data,))
        for layer in self._layers:
            pieces = _through(layer, pieces)
        return pieces


def _through(layer: _Inflate, pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from layer.feed(piece)


def decoder(content_encoding: str | None) -> Decoder | None:
    """The decoder a `Content-Encoding` value calls for; None when it names no coding."""
    codings = _codings(content_encoding) if content_encoding else []
    return Decoder(codings) if codings else None


async def decoded(raw: AsyncIterator[bytes], coded: Decoder, limit: int) -> AsyncIterator[bytes]:
    """`raw` (a body's bytes as they came) decoded, in pieces of at most STEP bytes;
    CodingError for a coding it does not undo, data that is not in its coding, or more than
    `limit` bytes as sent: the reader's cap counts what comes out, and gzip members that inflate
    to nothing (~20 bytes each) would stream past it, decoded one by one on the event loop,
    until the total timeout."""
    size = inflated = 0
    async for piece in raw:
        size += len(piece)
        if size > limit:
            raise CodingError(f"compressed body is larger than {limit} bytes")
        for out in coded.feed(piece):
            inflated += len(out)
            if inflated > MAX_RATIO * size + STEP:
                raise CodingError(f"body inflates past {MAX_RATIO} times its size as sent")
            yield out
            if len(out) == STEP:  # more may follow from this piece: let the loop run first
                await asyncio.sleep(0)
