"""Discovered models in the store (both backends; SQL with %s placeholders).

`record_listing` compares a fresh listing with the stored one and writes it in ONE transaction
(PostgreSQL: under a per-upstream advisory lock; SQLite: BEGIN IMMEDIATE), so the changes it
returns (new, gone, back, repriced) are reported once even if two replicas poll at the same time.
A lease (`claim_discovery`) keeps polling to one replica at a time in the first place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from arbiter.store._hooks import StoreHooks
from arbiter.store.budget_holds import on_store_clock

# Models gone from an upstream's listing kept per upstream (the most recently gone): a listing
# that names fresh ids on every poll must not grow the table, and every registry, without bound.
MAX_ABSENT_PER_UPSTREAM = 10_000


@dataclass(frozen=True, slots=True)
class DiscoveredRow:
    upstream: str
    model: str
    listing: dict[str, Any]
    present: bool
    first_seen_ts: float


@dataclass(slots=True)
class ListingChanges:
    new: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    back: list[str] = field(default_factory=list)
    # model -> (old listing, new listing) where a listed price changed
    repriced: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new or self.gone or self.back or self.repriced)


_PRICES = ("price_in_per_mtok", "price_out_per_mtok")


class DiscoveryMixin(StoreHooks):
    """Mixed into SqlStore; uses its `_tx`, `_ro`, `_sql` hooks and `backend`."""

    backend: str

    def claim_discovery(self, upstream: str, holder: str, now: float, ttl_s: float) -> bool:
        """Take (or renew) the lease to poll `upstream`; False while another holder has it.
        On the store's clock, as budget leases (a replica whose clock is off took live ones)."""
        until, until_args = on_store_clock(self._STORE_NOW, now + ttl_s)
        at, at_args = on_store_clock(self._STORE_NOW, now)
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO discovery_leases (upstream, holder, expires_ts) "
                    f"VALUES (%s, %s, {until}) "
                    "ON CONFLICT (upstream) DO UPDATE SET holder = EXCLUDED.holder, "
                    "expires_ts = EXCLUDED.expires_ts "
                    "WHERE discovery_leases.holder = EXCLUDED.holder "
                    f"OR discovery_leases.expires_ts < {at}"
                ),
                (upstream, holder, *until_args, *at_args),
            )
            return bool(cur.rowcount)

    def release_discovery(self, upstream: str, holder: str) -> None:
        """Give the lease up (a replica stopping), so another one polls without waiting."""
        with self._tx() as cur:
            cur.execute(
                self._sql("DELETE FROM discovery_leases WHERE upstream = %s AND holder = %s"),
                (upstream, holder),
            )

    def record_listing(
        self, upstream: str, listed: Mapping[str, dict[str, Any]], now: float
    ) -> ListingChanges:
        """Store `upstream`'s current listing (model -> Listed.to_json()); models it no longer
        lists are kept with present = 0 (the MAX_ABSENT_PER_UPSTREAM most recently gone). Returns
        what changed since the stored listing."""
        changes = ListingChanges()
        with self._tx() as cur:
            if self.backend == "postgres":
                cur.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", ("discovery:" + upstream,)
                )
            cur.execute(
                self._sql(
                    "SELECT model, listing, present FROM discovered_models WHERE upstream = %s"
                ),
                (upstream,),
            )
            stored = {r[0]: (orjson.loads(r[1]), bool(r[2])) for r in cur.fetchall()}
            for model, doc in listed.items():
                old = stored.get(model)
                if old is None:
                    changes.new.append(model)
                else:
                    if not old[1]:
                        changes.back.append(model)
                    if any(old[0].get(k) != doc.get(k) for k in _PRICES):
                        changes.repriced[model] = (old[0], doc)
                if old is None or old[0] != doc or not old[1]:
                    cur.execute(
                        self._sql(
                            "INSERT INTO discovered_models (upstream, model, listing, present, "
                            "first_seen_ts, updated_ts) VALUES (%s, %s, %s, 1, %s, %s) "
                            "ON CONFLICT (upstream, model) DO UPDATE SET listing = "
                            "EXCLUDED.listing, present = 1, updated_ts = EXCLUDED.updated_ts"
                        ),
                        (upstream, model, orjson.dumps(doc).decode(), now, now),
                    )
            for model, (_doc, present) in stored.items():
                if present and model not in listed:
                    changes.gone.append(model)
                    cur.execute(
                        self._sql(
                            "UPDATE discovered_models SET present = 0, updated_ts = %s "
                            "WHERE upstream = %s AND model = %s"
                        ),
                        (now, upstream, model),
                    )
            absent = sum(1 for m, (_d, p) in stored.items() if not p and m not in listed)
            if absent + len(changes.gone) > MAX_ABSENT_PER_UPSTREAM:
                cur.execute(
                    self._sql(
                        "DELETE FROM discovered_models WHERE upstream = %s AND model IN ("
                        "SELECT model FROM discovered_models WHERE upstream = %s AND present = 0 "
                        "ORDER BY updated_ts DESC, model DESC LIMIT 1000000 OFFSET %s)"
                    ),
                    (upstream, upstream, MAX_ABSENT_PER_UPSTREAM),
                )
        return changes

    def discovered_models(self) -> list[DiscoveredRow]:
        with self._ro() as cur:
            cur.execute(
                "SELECT upstream, model, listing, present, first_seen_ts FROM discovered_models "
                "ORDER BY upstream, model"
            )
            rows = cur.fetchall()
        return [DiscoveredRow(r[0], r[1], orjson.loads(r[2]), bool(r[3]), r[4]) for r in rows]
