"""The budget webhook read its answer's body whole (a hostile endpoint could send gigabytes)
and had no bound on an attempt's time (httpx's timeout is per read: a dripped answer held it
for good). Now only the status is read, and each attempt ends within its deadline
(budget_webhook.py). Hostile endpoints on 127.0.0.1, driving Budgets' own webhook call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter import budget_webhook
from arbiter.budget import Budgets
from arbiter.config import BudgetSettings
from arbiter.store import open_store

_MIB = 1 << 20
_SENT_AT_MOST = 64 * _MIB  # what the endpoint offers before it gives up


def _budgets(tmp_path: Path, url: str) -> Budgets:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    return Budgets(BudgetSettings(webhook_url=url), store, lambda *a: None)


def test_a_huge_answer_body_is_not_read(tmp_path: Path) -> None:
    sent: list[int] = []
    closed = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\n\r\n")
        total = 0
        try:
            while total < _SENT_AT_MOST:
                writer.write(b"x" * _MIB)
                await writer.drain()
                total += _MIB
        except (ConnectionError, OSError):
            pass
        finally:
            sent.append(total)
            closed.set()
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(endless, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        budgets = _budgets(tmp_path, f"http://127.0.0.1:{port}/hook")
        async with asyncio.timeout(60):
            await budgets._webhook({"kind": "budget_threshold"})
            await closed.wait()  # the endpoint saw the close
        server.close()
        # one attempt (a 200 is delivered), closed unread: what the socket buffers took at most
        assert len(sent) == 1 and sent[0] < _SENT_AT_MOST // 2, sent

    asyncio.run(main())


def test_a_dripped_answer_is_given_up_at_each_attempts_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget_webhook, "DEADLINE_S", 0.3)
    attempts: list[int] = []

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        attempts.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for _ in range(300):  # a header line a tenth of a second, 30 s at most
                writer.write(b"x-drip: 1\r\n")
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(drip, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        budgets = _budgets(tmp_path, f"http://127.0.0.1:{port}/hook")
        # 5 attempts of 0.3 s and pauses of 0.2+0.4+0.8+1.6 s: well inside 20 s
        async with asyncio.timeout(20):
            await budgets._webhook({"kind": "budget_threshold"})
        server.close()
        assert len(attempts) == 5, attempts

    asyncio.run(main())
