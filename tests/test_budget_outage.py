"""Budgets and keys while the store is away (issue 11, item 6): settles are queued and retried until
written, requests never wait on a store known to be down (a bounded local allowance per cap, then a
fast 503), and key lookups serve stale entries while one background refresh probes."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter.auth import Authenticator, create_key
from arbiter.budget import Budgets, BudgetStoreDown
from arbiter.config import AuthSettings, BudgetSettings, CapSettings
from arbiter.principal import Principal
from arbiter.store import StoreError, open_store
from arbiter.store.postgres import PostgresStore
from tests.waiting import until_async


class Outage:
    """A real SQLite store behind a switch: while `down`, every call raises like a dead
    connection; `block` makes calls hang (a pool timeout) until released. Counts calls."""

    def __init__(self, path: Path, url: str | None = None) -> None:
        self.inner = open_store(url or f"sqlite:///{path}")  # (`url`: another store instead)
        self.inner.migrate()
        self.down = False
        self.block: threading.Event | None = None
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.block is not None:
                self.block.wait(30)
            if self.down:
                raise StoreError("connection refused (simulated outage)")
            return target(*args, **kwargs)

        return call


# a call that must not wait on the store (blocked for 30 s) is cut off after this: far below
# the block, far above the milliseconds it takes, so a loaded machine cannot fail it
_NO_WAIT_S = 10.0
CAP = CapSettings("tenant", 1.0, "total")
P = Principal(tenant="acme", key_id="k1")


def _budgets(store: Any, allowance: float = 0.02) -> Budgets:
    s = BudgetSettings(caps=[CAP], outage_allowance=allowance)
    return Budgets(s, store, lambda *a: None)


def _usage(store: Outage) -> dict[str, float]:
    row = store.inner.budget_usage("tenant:acme")[0]
    return {"spent": row["spent_usd"], "reserved": row["reserved_usd"]}


def test_a_settle_that_fails_is_retried_until_written(tmp_path: Path) -> None:
    async def go() -> None:
        store = Outage(tmp_path / "s.db")
        b = _budgets(store)
        caps = b.caps_for(P, 0.0)
        await b.open("d1", caps, lambda _m: 0.1, ["m"])
        store.down = True
        await b.settle("d1", 0.04)  # the store is gone: queued, not dropped
        assert b.unsettled == 1
        assert _usage(store) == {"spent": 0.0, "reserved": 0.1}
        store.down = False
        await until_async(
            lambda: b.unsettled == 0 and not b.store_down, "the queued settles were written"
        )
        assert _usage(store) == pytest.approx({"spent": 0.04, "reserved": 0.0})

    asyncio.run(go())


def test_requests_never_wait_on_a_store_known_down(tmp_path: Path) -> None:
    async def go() -> None:
        store = Outage(tmp_path / "s.db")
        b = _budgets(store, allowance=0.02)  # 2% of a $1 cap: $0.02 per replica
        caps = b.caps_for(P, 0.0)
        store.down = True
        await b.open("d1", caps, lambda _m: 0.015, ["m"])  # discovers the outage; allowance
        assert b.store_down
        store.block = threading.Event()  # from now on the store would hang a caller
        with pytest.raises(BudgetStoreDown) as refused:
            await asyncio.wait_for(b.open("d2", caps, lambda _m: 0.015, ["m"]), _NO_WAIT_S)
        assert refused.value.http_status == 503 and "allowance" in refused.value.message
        assert store.calls["reserve_budget"] == 1, "only the first call touched the store"
        await b.settle("d1", 0.01)  # queued behind the outage; the allowance keeps $0.01
        await asyncio.wait_for(b.open("d2", caps, lambda _m: 0.009, ["m"]), _NO_WAIT_S)
        await b.settle("d2", 0.0)
        store.down = False
        store.block.set()
        store.block = None
        await until_async(
            lambda: b.unsettled == 0 and not b.store_down, "the queued settles were written"
        )
        assert _usage(store) == pytest.approx({"spent": 0.01, "reserved": 0.0})
        await b.open("d3", caps, lambda _m: 0.015, ["m"])  # back on the store, allowance free
        assert store.calls["reserve_budget"] == 2

    asyncio.run(go())


def test_no_allowance_means_a_fast_503(tmp_path: Path) -> None:
    async def go() -> None:
        store = Outage(tmp_path / "s.db")
        b = _budgets(store, allowance=0.0)
        store.down = True
        with pytest.raises(BudgetStoreDown):
            await b.open("d1", b.caps_for(P, 0.0), lambda _m: 0.001, ["m"])

    asyncio.run(go())


def test_stale_keys_are_served_without_waiting_and_new_keys_fail_fast(tmp_path: Path) -> None:
    async def go() -> None:
        store = Outage(tmp_path / "s.db")
        key = create_key(store.inner, "acme").key  # type: ignore[arg-type]
        auth = Authenticator(AuthSettings(key_cache_ttl_s=0.0), {}, store)  # type: ignore[arg-type]
        assert (await auth.authenticate(f"Bearer {key}", None)).tenant == "acme"
        store.down = True
        assert (await auth.authenticate(f"Bearer {key}", None)).tenant == "acme"  # stale
        store.block = threading.Event()  # a refresh now hangs like a pool timeout
        for _ in range(3):
            p = await asyncio.wait_for(auth.authenticate(f"Bearer {key}", None), _NO_WAIT_S)
            assert p.tenant == "acme"
        other = create_key(store.inner, "acme").key  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="not seen by this replica"):
            await asyncio.wait_for(auth.authenticate(f"Bearer {other}", None), _NO_WAIT_S)
        store.down = False
        store.block.set()

        async def known() -> bool:  # the background refresh brings the new key in
            try:
                return (await auth.authenticate(f"Bearer {other}", None)).tenant == "acme"
            except StoreError:
                return False

        await until_async(known, "the key was never looked up after the store came back")

    asyncio.run(go())


def test_a_postgres_store_that_is_not_there(tmp_path: Path) -> None:
    """A real dead connection: PostgreSQL URL on a closed loopback port."""

    async def go(port: int) -> None:
        store = PostgresStore(
            f"postgresql://nobody@127.0.0.1:{port}/none", timeout_s=0.5, connect_timeout_s=1
        )
        try:
            b = _budgets(store, allowance=0.5)
            caps = b.caps_for(P, 0.0)
            await b.open("d1", caps, lambda _m: 0.2, ["m"])  # the allowance
            assert b.store_down
            await b.open("d2", caps, lambda _m: 0.2, ["m"])
            with pytest.raises(BudgetStoreDown):
                await b.open("d3", caps, lambda _m: 0.2, ["m"])
            await b.settle("d1", 0.1)
            assert b.unsettled == 1
            auth = Authenticator(AuthSettings(), {}, store)
            with pytest.raises(StoreError):
                await auth.authenticate("Bearer arb-0123456789ab-secret", None)
        finally:
            store.close()

    # bound, never listening, held for the test: every connect is refused, and nothing else on
    # the host can start listening there meanwhile
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        asyncio.run(go(closed.getsockname()[1]))


def test_a_refusal_says_whether_a_retry_can_succeed(tmp_path: Path) -> None:
    """Held back only by requests in flight: retryable (their settles may free room). Spent:
    not retryable before the window resets (the 429 then tells the SDKs not to retry)."""
    from arbiter.errors import BudgetExceeded

    async def go() -> None:
        store = Outage(tmp_path / "s.db")
        b = _budgets(store)
        caps = b.caps_for(P, 0.0)
        await b.open("d1", caps, lambda _m: 0.7, ["m"])  # 0.7 of 1.0 reserved, in flight
        with pytest.raises(BudgetExceeded) as refused:
            await b.open("d2", caps, lambda _m: 0.5, ["m"])
        assert refused.value.retryable
        await b.settle("d1", 0.7)  # now spent
        with pytest.raises(BudgetExceeded) as refused:
            await b.open("d3", caps, lambda _m: 0.5, ["m"])
        assert not refused.value.retryable

    asyncio.run(go())
