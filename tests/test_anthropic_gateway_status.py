"""/v1/messages rendered an upstream's failure (the OpenAI surface's 502) as HTTP 500 `api_error`,
since Anthropic's API has no 502. A 500 reads to monitoring as the sidecar crashing, and Arbiter
answers a 500 only for its own bug: a gateway failure now keeps the OpenAI surface's status under
the closest Anthropic type, and the anthropic SDK still raises its 5xx class and retries it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import httpx2
import pytest

from tests.adversarial.hostile_upstream import fast_failover, response, scripted_upstream
from tests.inproc import raw_anthropic_upstream, sidecar_in_process

pytestmark = pytest.mark.timeout(90)


def test_a_malformed_upstream_answer_is_a_502_the_sdk_retries(tmp_path: Path) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:  # a 200 whose body is not JSON
        writer.write(response(b"200 OK\r\ncontent-type: application/json", b"not json"))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, calls):
            edit = raw_anthropic_upstream(port)
            async with sidecar_in_process(
                tmp_path, edit_config=lambda t: fast_failover(edit(t))
            ) as sc:
                transport = httpx2.ASGITransport(app=sc.app)
                async with httpx2.AsyncClient(
                    transport=transport, base_url="http://127.0.0.1"
                ) as http:
                    claude = anthropic.AsyncAnthropic(
                        api_key=sc.api_key, base_url="http://127.0.0.1", http_client=http,
                        max_retries=1,
                    )  # fmt: skip
                    with pytest.raises(anthropic.InternalServerError) as info:
                        await claude.with_options(timeout=30).messages.create(
                            model="an-raw", max_tokens=10,
                            messages=[{"role": "user", "content": "Hi"}],
                        )  # fmt: skip
            assert info.value.status_code == 502  # was 500
            body = info.value.body
            assert body["type"] == "error", body  # type: ignore[index]
            assert body["error"]["type"] == "api_error", body  # type: ignore[index]
            # the SDK retried the 5xx once, as it did the 500: two calls reached the upstream
            assert calls[0] == 2, calls

    asyncio.run(main())
