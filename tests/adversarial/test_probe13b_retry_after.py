"""Outside probe (thirteenth session): an upstream's Retry-After that is not a sane number.

`retry_after` took any float: `nan`, `inf` (or `1e999`, which float() reads as inf) went into the
error and, when it reached the client, `math.ceil` of it raised while the error was rendered: a
500 with no body in the caller's shape, for what is the upstream's 429. `10^9` was passed on as
is, and the anthropic SDK sleeps whatever a Retry-After says (up to 50 days) before it retries.
A value that is not finite is now unreadable (no Retry-After), a negative one is 0, and a longer
one is capped at the 300 s Arbiter itself holds a model for."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from arbiter.upstream.http import MAX_RETRY_AFTER_S, retry_after
from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_openai_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(60)

ERROR = b'{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}'


@pytest.mark.parametrize(
    ("name", "value", "seconds"),
    [
        ("retry-after", "nan", None),
        ("retry-after", "inf", None),
        ("retry-after", "-inf", None),
        ("retry-after", "1e999", None),
        ("retry-after", "1000000000", MAX_RETRY_AFTER_S),
        ("retry-after", "-5", 0.0),
        ("retry-after", "garbage", None),
        ("retry-after-ms", "nan", None),
        ("retry-after-ms", "1e999", None),
        ("retry-after-ms", "1e15", MAX_RETRY_AFTER_S),
    ],
)
def test_an_unusable_retry_after_is_none_or_bounded(
    name: str, value: str, seconds: float | None
) -> None:
    assert retry_after(httpx.Headers({name: value})) == seconds


@pytest.mark.parametrize(
    ("status", "header"),
    [
        (b"429 Too Many Requests", b"retry-after: nan"),
        (b"429 Too Many Requests", b"retry-after: 1e999"),
        (b"429 Too Many Requests", b"retry-after: 1000000000"),
        (b"503 Service Unavailable", b"retry-after-ms: inf"),
    ],
)
def test_the_client_gets_the_upstreams_refusal_not_a_500(
    tmp_path: Path, status: bytes, header: bytes
) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        writer.write(response(status + b"\r\ncontent-type: application/json\r\n" + header, ERROR))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, _):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: fast_failover(edit(t))
            ) as sc:
                body = {"model": "oa-raw", "messages": [{"role": "user", "content": "Hi"}]}
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
        assert r.status_code == int(status[:3]), r.text
        assert r.json()["error"]["code"].startswith("upstream_"), r.text
        assert r.headers["x-should-retry"] == "true"
        shown = r.headers.get("retry-after")
        assert shown is None or 0 <= int(shown) <= MAX_RETRY_AFTER_S, shown

    asyncio.run(main())
