"""Outside probe: request bodies sent with `Content-Encoding`. A gzip- or deflate-compressed JSON
body got "We could not parse the JSON body of your request (str is not valid UTF-8 ...)", which
sends the caller hunting for a charset bug; a `br` (or any other) encoding was read as if it were
plain JSON. Now gzip and deflate are inflated (never past `server.max_body_bytes`: a small
compressed bomb is a 413, not a memory spike) and any other coding is a 415 naming it."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson
import pytest

from arbiter import budget, relay, request_body, store  # noqa: F401  (their error classes)
from arbiter.errors import (
    ArbiterError,
    RateLimited,
    RequestTimeout,
    UpstreamRedirected,
    UpstreamRejected,
)
from arbiter.protocols import anthropic_response
from tests.inproc import InProcess, sidecar_in_process

CHAT = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]})
ENCODE = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,  # RFC 9110's deflate: the zlib format
    "GZIP": gzip.compress,
    "identity": lambda b: b,
}


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]]) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())


async def post(
    sc: InProcess, raw: bytes, encoding: str, path: str = "/v1/chat/completions"
) -> httpx.Response:
    headers = {
        **sc.auth_for(path),
        "content-type": "application/json",
        "content-encoding": encoding,
    }
    return await sc.client.post(path, content=raw, headers=headers)


def test_gzip_and_deflate_bodies_are_inflated(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        for name, encode in ENCODE.items():
            r = await post(sc, encode(CHAT), name)
            assert r.status_code == 200, (name, r.text)
        r = await post(
            sc, gzip.compress(b'{"decision_id": "nope", "score": 1}'), "gzip", "/v1/feedback"
        )
        assert r.status_code == 404, r.text  # read and understood: no such decision

    run(tmp_path, body)


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br", "compress"])
def test_another_coding_is_a_415_naming_it(tmp_path: Path, encoding: str) -> None:
    async def body(sc: InProcess) -> None:
        r = await post(sc, CHAT, encoding)
        assert r.status_code == 415, r.text
        error = r.json()["error"]
        assert encoding in error["message"] and error["type"] == "invalid_request_error"
        r = await post(sc, CHAT, encoding, "/v1/messages")  # in Anthropic's shape there
        assert r.status_code == 415 and r.json()["type"] == "error", r.text

    run(tmp_path, body)


def test_a_broken_or_oversized_compressed_body_is_a_clear_4xx(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await post(sc, b"\x1f\x8b not really gzip", "gzip")
        assert r.status_code == 400 and "gzip" in r.json()["error"]["message"], r.text
        limit = sc.services.settings.server.max_body_bytes
        bomb = gzip.compress(b" " * (limit + 1))  # a few KiB that inflate past the limit
        assert len(bomb) < limit // 100
        r = await post(sc, bomb, "gzip")
        assert r.status_code == 413, r.text

    run(tmp_path, body)


def every_error_class() -> list[type[ArbiterError]]:
    found, todo = [], [ArbiterError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_anthropics_shape_keeps_every_client_error_a_4xx() -> None:
    """The Anthropic renderer had a table of known classes and made every other error a 500
    `api_error`: the 415 above, and a body that did not arrive in time (408), reached the
    anthropic SDK as server errors, which it retries."""
    for cls in every_error_class():
        if cls is UpstreamRejected:
            continue  # keeps the upstream's own status (tested with the upstreams)
        status = cls.status
        if cls is UpstreamRedirected:
            err: ArbiterError = cls("x", upstream_status=301, location_host=None)
        elif cls is RateLimited:
            err = cls("x", retry_after_s=1.0)
        else:
            err = cls("x")
        got = anthropic_response.error_status(err)
        if status < 500:
            assert got == status or (status, got) == (503, 529), cls
        else:
            assert got >= 500, cls
    assert anthropic_response.error_type(RequestTimeout("slow"))[0] == "invalid_request_error"
