"""client_timeout's on_header (uvicorn's inlined into it) keeps a request's header lines as
uvicorn's own on_header keeps them: names lowercased, trailing spaces and tabs off the value,
`Expect: 100-continue` noticed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from arbiter.client_timeout import MAX_HEADER_FIELDS, ClientReadTimeoutProtocol, _TooManyHeaders

_LINES = [
    (b"Host", b"127.0.0.1:8080"),
    (b"Content-Type", b"application/json \t"),
    (b"X-Request-Id", b"  abc"),
    (b"EXPECT", b"100-Continue\t"),
    (b"expect", b"200-ok"),
    (b"authorization", b"Bearer k"),
    (b"x-empty", b""),
    (b"x-tabs", b"\t\t"),
]


def _fresh() -> SimpleNamespace:
    return SimpleNamespace(headers=[], expect_100_continue=False, _in_body=False)


@pytest.mark.parametrize("upto", range(1, len(_LINES) + 1))
def test_header_lines_as_uvicorn_keeps_them(upto: int) -> None:
    ours, theirs = _fresh(), _fresh()
    for name, value in _LINES[:upto]:
        ClientReadTimeoutProtocol.on_header(ours, name, value)  # type: ignore[arg-type]
        HttpToolsProtocol.on_header(theirs, name, value)  # type: ignore[arg-type]
    assert ours.headers == theirs.headers
    assert ours.expect_100_continue == theirs.expect_100_continue


def test_trailers_and_the_cap_still_apply() -> None:
    p = _fresh()
    p._in_body = True
    ClientReadTimeoutProtocol.on_header(p, b"x-trailer", b"1")  # type: ignore[arg-type]
    assert p.headers == []
    p._in_body = False
    p.headers = [(b"x", b"1")] * MAX_HEADER_FIELDS
    with pytest.raises(_TooManyHeaders):
        ClientReadTimeoutProtocol.on_header(p, b"x-one-more", b"1")  # type: ignore[arg-type]
