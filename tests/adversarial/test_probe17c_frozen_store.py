"""Outside probe (seventeenth session): the shared PostgreSQL store stops answering without
closing its connections (a frozen server, a partition that drops packets rather than refusing
them), mid-traffic, under a spend cap.

A refused or reset connection fails fast, and a locked row within the lock wait; but a statement
sent to a store that has gone silent got no error at all: every capped request whose budget
reservation (or settle) was in flight waited for as long as the store stayed silent (the whole
freeze, 20 s in the probe; a partition lasts until TCP gives up, about 15 minutes), since the
outage allowance applies only once a call has failed. A budget statement is now waited on for
at most budget.STORE_WAIT_S; then the store counts as down and the request goes on from the
allowance. The statement is not lost: a reservation that lands late is released again (else it
stays held in the store until this process stops), a settle that fails late is queued, so once
the store is back nothing stays reserved and the cap's spend is what the answered requests
cost."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from arbiter.store_wait import STORE_WAIT_S
from tests.inproc import recorded_decision, sidecar_in_process
from tests.pg import fresh_database, require_pg

pytestmark = pytest.mark.timeout(120)

CAP = '\n[[budgets.caps]]\nscope = "global"\nwindow = "day"\nlimit_usd = 100.0\n'
FROZEN_AT_MOST_S = 20.0  # the freeze ends by then, whatever the test is waiting for


class FreezingProxy:
    """A TCP relay on 127.0.0.1 to `port`, on its own loop in a thread (the store's calls run
    in worker threads and at start on the sidecar's loop, which must not carry the relay).
    `freeze()` holds every byte either way and closes nothing, as a frozen server does."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    def __enter__(self) -> FreezingProxy:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shut(self) -> None:
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=5)

    def freeze(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def thaw(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._flowing.set()
        server = self._loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def _reserved(url: str) -> float:
    """What the store holds reserved, in the cap's row and in the holds ledger."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        usage = conn.execute("SELECT sum(reserved_usd) FROM budget_usage").fetchone()
        holds = conn.execute("SELECT sum(reserved_usd) FROM budget_holds").fetchone()
    return float((usage[0] if usage else 0.0) or 0.0) + float((holds[0] if holds else 0.0) or 0.0)


def test_capped_requests_in_flight_when_the_store_goes_silent_are_answered_and_reconciled(
    tmp_path: Path,
) -> None:
    with fresh_database(require_pg()) as url:
        parts = urlsplit(url)
        assert parts.port is not None

        async def main(proxy: FreezingProxy) -> list[float]:
            relayed = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))

            def config(text: str) -> str:
                return re.sub(r'url = "sqlite:[^"]*"', f'url = "{relayed}"', text) + CAP

            async with sidecar_in_process(tmp_path, edit_config=config) as sc:
                ask = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}

                async def answered() -> tuple[int, str, float]:
                    r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
                    return r.status_code, r.headers["x-arbiter-decision-id"], time.monotonic()

                first = await answered()  # the key is cached from here for a second
                proxy.freeze()
                frozen_at = time.monotonic()
                safety = asyncio.get_running_loop().call_later(FROZEN_AT_MOST_S, proxy.thaw)
                try:
                    during = await asyncio.gather(answered(), answered())
                finally:
                    safety.cancel()
                    proxy.thaw()
                for status, _, at in during:
                    assert status == 200
                    # answered while the store was still silent (before: at the thaw)
                    assert at - frozen_at < STORE_WAIT_S + 5.0, at - frozen_at
                budgets = sc.services.budgets
                for _ in range(300):  # the store is back: queued settles and releases land
                    if not budgets.store_down and not budgets.unsettled:
                        break
                    await asyncio.sleep(0.1)
                assert not budgets.store_down and not budgets.unsettled
                # nothing stays reserved once every call has settled (the judge's sampled
                # calls included); a late reservation nobody released stayed until the stop
                for _ in range(100):
                    if abs(await asyncio.to_thread(_reserved, url)) < 1e-12:
                        break
                    await asyncio.sleep(0.1)
                assert await asyncio.to_thread(_reserved, url) == pytest.approx(0.0, abs=1e-12)
                await asyncio.to_thread(sc.services.recorder.flush)
                return [
                    (await recorded_decision(sc, d))["cost_usd"] for _, d, _ in [first, *during]
                ]

        with FreezingProxy(parts.port) as proxy:
            costs = asyncio.run(main(proxy))
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT spent_usd, reserved_usd FROM budget_usage WHERE scope = 'global'"
            ).fetchall()
            holds = conn.execute("SELECT sum(reserved_usd) FROM budget_holds").fetchone()
            # every decision charged to the global cap: the requests' own and the judge calls
            # sampled on their answers
            recorded = conn.execute("SELECT sum(cost_usd) FROM decisions").fetchone()
        ((spent, reserved),) = rows
        assert reserved == pytest.approx(0.0, abs=1e-12)  # no reservation left held
        assert (holds[0] or 0.0) == pytest.approx(0.0, abs=1e-12)
        assert spent == pytest.approx(recorded[0], rel=1e-9, abs=1e-12)
        assert all(cost > 0 for cost in costs)  # the requests answered were charged
        assert spent > 0


def test_a_key_lookup_on_a_silent_store_serves_the_cached_key(tmp_path: Path) -> None:
    """Auth serves a cached key while the store is known down, but found that out only from a
    failed lookup: a lookup on a silent store held the request for the whole silence (20 s
    here). Under load the pool hands out connections used within the last second, unpinged;
    the store is set here to ping none, so the lookup's statement is what meets the silence."""
    with fresh_database(require_pg()) as url:
        parts = urlsplit(url)
        assert parts.port is not None

        async def main(proxy: FreezingProxy) -> None:
            relayed = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))

            def config(text: str) -> str:
                text = re.sub(r'url = "sqlite:[^"]*"', f'url = "{relayed}"', text)
                return text.replace("[auth]\n", "[auth]\nkey_cache_ttl_s = 0.3\n", 1)

            async with sidecar_in_process(tmp_path, edit_config=config) as sc:
                sc.services.store._ping_idle_s = 3600.0  # type: ignore[attr-defined]
                ask = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}
                # the pool holds several connections (each used within the last second), as
                # under load: the lookup gets one of them rather than waiting for the pool
                store = sc.services.store
                await asyncio.gather(*(asyncio.to_thread(store.get_key, "x") for _ in range(6)))
                r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
                assert r.status_code == 200, r.text
                proxy.freeze()
                frozen_at = time.monotonic()
                safety = asyncio.get_running_loop().call_later(FROZEN_AT_MOST_S, proxy.thaw)
                try:
                    await asyncio.sleep(0.5)  # the key's cache entry has expired
                    r = await sc.client.post("/v1/chat/completions", json=ask, headers=sc.auth)
                    answered_after = time.monotonic() - frozen_at
                finally:
                    safety.cancel()
                    proxy.thaw()
                assert r.status_code == 200, r.text
                # answered from the cached key while the store was still silent (before: at
                # the thaw)
                assert answered_after < STORE_WAIT_S + 5.0, answered_after

        with FreezingProxy(parts.port) as proxy:
            asyncio.run(main(proxy))
