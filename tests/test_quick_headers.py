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


def test_every_lookup_matches_starlette_on_random_header_lists() -> None:
    import random

    rng = random.Random(5)
    names = [b"authorization", b"x-api-key", b"content-encoding", b"x-request-id", b"pragma"]
    for _ in range(500):
        raw = [
            (rng.choice(names), bytes(rng.choice(b"ab\xe9 ") for _ in range(rng.randint(0, 3))))
            for _ in range(rng.randint(0, 6))
        ]
        quick = QuickHeaders(scope={"type": "http", "headers": list(raw)})
        plain = Headers(scope={"type": "http", "headers": list(raw)})
        for name in [*names, b"absent"]:
            for key in (name.decode(), name.decode().upper()):
                assert quick.get(key) == plain.get(key)
                assert quick.getlist(key) == plain.getlist(key)
                assert (key in quick) == (key in plain)
                assert quick.get(key, "d") == plain.get(key, "d")


class _NoScan(list):  # type: ignore[type-arg]
    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the header lines were scanned again")


def test_lookups_after_the_first_read_the_index_not_the_lines() -> None:
    """A routed request asks for ~16 headers, mostly absent: each scanned every line before
    (Starlette's way); now one dict of first values answers them (a present name's getlist
    still reads its lines: all its values, in order)."""
    raw = [(b"authorization", b"Bearer k"), (b"content-type", b"application/json")]
    quick = QuickHeaders(scope={"type": "http", "headers": raw})
    assert quick.get("authorization") == "Bearer k"  # builds the index
    quick._list = _NoScan(raw)
    assert quick.get("x-arbiter-max-latency-ms") is None and quick.get("Content-Type")
    assert quick.getlist("content-encoding") == [] and "pragma" not in quick
    assert quick["authorization"] == "Bearer k"
