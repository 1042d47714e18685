"""content_coding: an upstream body's codings undone in steps of at most STEP bytes."""

from __future__ import annotations

import gzip
import zlib

import pytest

from arbiter.upstream.content_coding import STEP, CodingError, decoder

TEXT = b'data: {"hello": "world"}\n\n' * 20_000


def _decode(coding: str, body: bytes, read: int = 997) -> bytes:
    coded = decoder(coding)
    assert coded is not None
    out = []
    for i in range(0, len(body), read):
        for piece in coded.feed(body[i : i + read]):
            assert len(piece) <= STEP
            out.append(piece)
    return b"".join(out)


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(TEXT, mtime=0)),
        ("x-gzip", gzip.compress(TEXT, mtime=0)),
        ("deflate", zlib.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send it
        ("gzip, gzip", gzip.compress(gzip.compress(TEXT, mtime=0), mtime=0)),
        ("deflate, gzip", gzip.compress(zlib.compress(TEXT), mtime=0)),
        (
            "gzip",
            gzip.compress(TEXT[:5000], mtime=0) + gzip.compress(TEXT[5000:], mtime=0),
        ),  # two members
        ("GZIP, identity", gzip.compress(TEXT, mtime=0)),
    ],
    ids=[
        "gzip",
        "x-gzip",
        "zlib",
        "raw-deflate",
        "gzip-gzip",
        "deflate-gzip",
        "two-members",
        "upper-identity",
    ],
)
def test_each_coding_is_undone(coding: str, body: bytes) -> None:
    assert _decode(coding, body) == TEXT


def test_no_coding_is_no_decoder() -> None:
    assert decoder(None) is None
    assert decoder("identity") is None
    assert decoder(" ") is None


def test_a_bomb_yields_bounded_pieces_and_stops_when_the_reader_does() -> None:
    bomb = gzip.compress(gzip.compress(b"\0" * (64 << 20), 9, mtime=0), 9)  # ~1 KB for 64 MiB
    coded = decoder("gzip, gzip")
    assert coded is not None
    seen = 0
    for piece in coded.feed(bomb):
        assert len(piece) <= STEP
        seen += len(piece)
        if seen > 1 << 20:
            break
    assert 1 << 20 < seen <= (1 << 20) + STEP


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br", "gzip, " * 5 + "gzip"])
def test_a_coding_it_does_not_undo_is_refused_by_name(coding: str) -> None:
    coded = decoder(coding)
    assert coded is not None
    with pytest.raises(CodingError):
        list(coded.feed(b"\x1f\x8b"))


def test_data_not_in_its_coding_is_an_error() -> None:
    with pytest.raises(CodingError, match="not valid gzip"):
        _decode("gzip", b"this is not gzip at all")
