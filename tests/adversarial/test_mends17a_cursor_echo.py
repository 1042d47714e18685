"""Probes (seventeenth session): `/arbiter/decisions?after=` with a cursor that names no decision
repeated the whole cursor in its 400 (a URL may carry up to 1 MiB of it: a megabyte error body
and log line). Cut to 64 characters, as /arbiter/alerts and /arbiter/cache already cut theirs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import sidecar_in_process


def test_a_long_cursor_naming_nothing_is_not_echoed_whole(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            cursor = "dec_" + "x" * 60_000  # (httpx refuses a query over 64 KiB)
            for path in ("/arbiter/decisions", "/arbiter/alerts", "/arbiter/cache"):
                r = await sc.client.get(path, params={"after": cursor}, headers=sc.admin)
                assert r.status_code == 400, (path, r.status_code)
                error = r.json()["error"]
                assert error["param"] == "after", path
                assert len(error["message"]) < 200, (path, len(error["message"]))
                assert cursor[:64] in error["message"], path

    asyncio.run(main())
