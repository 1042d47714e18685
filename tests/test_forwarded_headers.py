"""upstream.http.forwarded_headers reads the answer's raw header lines and decodes only what it
forwards; it must forward exactly what decoding every line (httpx's multi_items) did."""

from __future__ import annotations

import random

import httpx
import pytest

from arbiter.upstream.http import forwarded_headers


def _by_multi_items(headers: httpx.Headers) -> dict[str, str]:
    """The rule as first written, on httpx's decoded lines (the reference)."""
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        if not (value.isascii() and value.isprintable()):
            continue
        if name.startswith(("x-ratelimit-", "anthropic-ratelimit-")):
            out[name] = value
        elif name in ("x-request-id", "request-id"):
            out["x-request-id"] = out["request-id"] = value
    return out


NAMES = [
    b"X-Request-Id", b"request-id", b"REQUEST-ID", b"x-ratelimit-remaining-requests",
    b"Anthropic-RateLimit-Tokens-Limit", b"content-type", b"x-ratelimit-\xc3\xa9",
    b"x-ratelimit-\xe9", b"x-request-idx",
]  # fmt: skip
VALUES = [b"abc", b"a\tb", b"\xc3\xa9", b"\xe9", b"ok 1", b"x\x7f", b"", b"~!", b" lead"]


def test_the_same_headers_in_the_same_order_as_decoding_every_line() -> None:
    rng = random.Random(18)
    for _ in range(5000):
        lines = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randint(0, 7))]
        headers = httpx.Headers(lines)
        assert list(forwarded_headers(headers).items()) == list(_by_multi_items(headers).items()), (
            lines
        )


def test_only_the_forwarded_lines_are_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: httpx.Headers) -> None:
        raise AssertionError("every line decoded")

    monkeypatch.setattr(httpx.Headers, "multi_items", refuse)
    headers = httpx.Headers([(b"content-type", b"application/json"), (b"x-request-id", b"r1"),
                             (b"x-ratelimit-limit-requests", b"500")])  # fmt: skip
    assert forwarded_headers(headers) == {
        "x-request-id": "r1", "request-id": "r1", "x-ratelimit-limit-requests": "500",
    }  # fmt: skip
