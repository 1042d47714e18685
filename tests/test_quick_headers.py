"""QuickHeaders.get answers as Starlette's Headers.get does (first value, any case, default)."""

from __future__ import annotations

from starlette.datastructures import Headers

from arbiter.http_json import QuickHeaders


def test_get_matches_starlette_headers() -> None:
    scope = {
        "type": "http",
        "headers": [
            (b"authorization", b"Bearer k"),
            (b"x-request-id", b"first"),
            (b"x-request-id", b"second"),
            (b"x-latin", "caf\xe9".encode("latin-1")),
            (b"x-empty", b""),
        ],
    }
    quick, plain = QuickHeaders(scope=dict(scope)), Headers(scope=dict(scope))
    for key in ("authorization", "Authorization", "X-REQUEST-ID", "x-latin", "x-empty", "nope"):
        assert quick.get(key) == plain.get(key)
        assert quick.get(key, "dflt") == plain.get(key, "dflt")
    assert quick.get("x-request-id") == "first" and quick.get("nope") is None
    assert quick.get("x-empty", "dflt") == ""  # present but empty is not the default
    assert quick == plain and quick.getlist("x-request-id") == ["first", "second"]
