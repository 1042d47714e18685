"""`Pragma: no-cache` bypasses the response cache's read, as `Cache-Control: no-cache` does.

It was ignored: an HTTP/1.0-era client or proxy asking for a fresh answer got the cached one.
HTTP's rule (RFC 7234 5.4, kept by RFC 9111 for compatibility): with no Cache-Control in the
request, `Pragma: no-cache` means `Cache-Control: no-cache`; with one, Pragma is ignored. Both
SDKs, through the real sidecar in process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

USER = [{"role": "user", "content": "What is the capital of France?"}]


def test_pragma_no_cache_reads_nothing_unless_cache_control_says_otherwise(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path,
                anthropic_models=("sim-medium",),
                edit_config=lambda t: t + "\n[cache]\nenabled = true\n",
            ) as sc,
            sdks(sc) as (claude, gpt),
        ):

            async def openai_status(headers: dict[str, str]) -> str:
                r = await gpt.chat.completions.with_raw_response.create(
                    model="auto", messages=USER, extra_headers=headers
                )
                await sc.services.cache.drain()
                return str(r.headers["x-arbiter-cache"])

            async def anthropic_status(headers: dict[str, str]) -> str:
                r = await claude.messages.with_raw_response.create(
                    model="auto", max_tokens=64, messages=USER, extra_headers=headers
                )
                await sc.services.cache.drain()
                return str(r.headers["x-arbiter-cache"])

            for status in (openai_status, anthropic_status):
                assert await status({}) in ("miss", "hit")  # stored (or already there)
                assert await status({}) == "hit"  # the control: a plain request is a hit
                assert await status({"pragma": "no-cache"}) == "bypass", status
                assert await status({"Pragma": "foo, No-Cache"}) == "bypass", status
                assert await status({"pragma": "foo"}) == "hit"  # another pragma: nothing
                # Cache-Control present: Pragma is ignored (HTTP's rule)
                assert await status({"pragma": "no-cache", "cache-control": "max-age=60"}) == "hit"

    asyncio.run(main())
