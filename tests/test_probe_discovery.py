"""Outside probes of model discovery: a listing server that answers slowly, a byte at a time
(each read within httpx's per-read timeout), must not hold the poller: a poll has a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import pytest

from arbiter import discovery
from arbiter.discovery import Discovery
from tests.inproc import InProcess, sidecar_in_process
from tests.raw_http import loopback_upstream
from tests.waiting import until_async


def _trickle_server() -> contextlib.AbstractAsyncContextManager[str]:
    """A loopback listing that sends its headers, then one body byte every 0.3 s (bounded: at
    most 60 bytes, 18 s); its base URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
        writer.write(b"transfer-encoding: chunked\r\n\r\n")
        for _ in range(60):
            writer.write(b"1\r\n \r\n")
            await writer.drain()
            await asyncio.sleep(0.3)

    return loopback_upstream(handle)


def test_a_trickling_listing_fails_the_poll_at_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery, "FETCH_DEADLINE_S", 1.0, raising=False)

    async def body(sc: InProcess) -> None:
        up = sc.services.settings.upstreams["sim"]
        async with _trickle_server() as url:
            d = Discovery(
                {"slow": dataclasses.replace(up, base_url=url, discover=True)},
                sc.services.store, sc.services.alerts, lambda: None, lambda _m: True,
            )  # fmt: skip
            # bounded here so a poll without a deadline fails the test instead of hanging it
            assert await asyncio.wait_for(d.poll_once("slow"), 8.0) is None
            assert d.stats["slow"].failures == 1
            assert "seconds" in (d.stats["slow"].last_error or "")

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())


def test_overlapping_polls_never_record_the_older_listing_last(tmp_path: Path) -> None:
    """The first fetch is slow and sees the old listing; a second poll that starts meanwhile sees
    the new one. Polls of one upstream take turns, so the newer listing is the one that stays."""
    import orjson

    def listing(*names: str) -> bytes:
        priced = {"pricing": {"prompt": "1e-7", "completion": "2e-7"}}
        return orjson.dumps({"data": [{"id": n, **priced} for n in names]})

    answered = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        try:
            await reader.readuntil(b"\r\n\r\n")
            answered += 1
            if answered == 1:
                body = listing("old")
                await asyncio.sleep(1.0)  # the second poll fetches and records meanwhile
            else:
                body = listing("old", "new")
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            writer.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
        finally:
            writer.close()

    async def body(sc: InProcess) -> None:
        up = sc.services.settings.upstreams["sim"]
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        try:
            d = Discovery(
                {"two": dataclasses.replace(up, base_url=url, discover=True, exclude=[])},
                sc.services.store, sc.services.alerts, lambda: None, lambda _m: True,
            )  # fmt: skip
            first = asyncio.create_task(d.poll_once("two"))
            # the first fetch is under way: its request reached the listing (a fixed sleep here
            # let the second poll's request arrive first on a loaded machine)
            await until_async(lambda: answered >= 1, "the first poll never reached the listing")
            await asyncio.wait_for(d.poll_once("two"), 8.0)
            await asyncio.wait_for(first, 8.0)
            rows = {r.model: r.present for r in sc.services.store.discovered_models()
                    if r.upstream == "two"}  # fmt: skip
            assert rows == {"old": True, "new": True}, rows
        finally:
            server.close()

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())
