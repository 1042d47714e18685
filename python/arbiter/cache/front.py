"""The response cache's state and its in-memory front: the LRU of entries bounded by count and
bytes (each semantic entry's vector in the matcher with it), the read-through to the store and the
write behind to it, and the store's outage cooldown. ResponseCache (service.py) sets every field;
the other parts (invalidation.py, replica_sync.py, cache_stats.py) build on this one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from arbiter.cache.answer import Entry, footprint
from arbiter.cache.entry_rows import from_row, to_row
from arbiter.cache.matcher import Matcher
from arbiter.config import CacheSettings
from arbiter.store import StoreError

if TYPE_CHECKING:
    from arbiter.store import Store

# the parts of ResponseCache log as the one class they make up (operators filter on the name)
log = logging.getLogger("arbiter.cache.service")

_STORE_WAIT_S = 0.25  # a read-through slower than this is abandoned (counted as an error)
# after a store failure the cache leaves the store alone this long (memory only), so an outage
# never piles up threads waiting on it; then one call probes
_STORE_COOLDOWN_S = 1.0
# how far ahead of now an entry's write time may be and the entry still served: the replicas'
# store-clock readings (StateSync.store_time) differ by a round trip, far less than this
_AHEAD_S = 5.0
SERVED_MEMORY = 50_000  # hit decisions remembered for feedback without a store lookup


def remember_bounded(memory: OrderedDict[str, Any], key: str, value: Any) -> None:
    """`memory[key] = value`, the oldest forgotten past SERVED_MEMORY."""
    memory[key] = value
    memory.move_to_end(key)
    if len(memory) > SERVED_MEMORY:
        memory.popitem(last=False)


class CacheFront:
    """The fields every part of the cache reads (set by ResponseCache.__init__) and the front."""

    settings: CacheSettings
    store: Store
    matcher: Matcher
    semantic: bool
    active: bool
    clock: Callable[[], float]
    counts: dict[str, float]
    _entries: OrderedDict[str, Entry]  # id -> entry, LRU order
    _bytes: int  # the entries' footprint() total, bounded by settings.max_bytes
    _persisting: dict[str, asyncio.Task[None]]  # entry id -> its store write
    # entry id -> when this replica invalidated it: a sync whose read of new entries raced
    # the delete must not bring the entry back (it would live until the next sync)
    _invalidated_at: dict[str, float]
    _store_down_until: float  # time.monotonic(): skip the store until then
    _tasks: set[asyncio.Task[Any]]

    async def _get(self, entry_id: str, tenant: str, now: float) -> Entry | None:
        entry = self._entries.get(entry_id)
        if entry is not None:
            if entry.tenant != tenant:
                return None  # ids cover the tenant: never true, kept as the isolation guard
            if self._fresh(entry, now):
                self._entries.move_to_end(entry_id)
                return entry
            self._drop(entry_id)
            return None
        if not self._store_up():
            return None
        try:
            async with asyncio.timeout(_STORE_WAIT_S):
                row = await asyncio.to_thread(self.store.cache_get, entry_id, tenant, now)
        except Exception:  # the store is down or slow: a miss, never a failed request
            self._store_failed()
            return None
        self._store_down_until = 0.0
        if row is None:
            return None
        try:
            entry = from_row(row)
        except Exception:  # a row this version cannot read: a miss
            self.counts["errors"] += 1
            log.warning("cache entry %s is unreadable; ignored", entry_id, exc_info=True)
            return None
        if not self._fresh(entry, now):
            return None
        self._insert(entry)
        return entry

    def _fresh(self, entry: Entry, now: float) -> bool:
        """Within its own expiry and the TTL serving now: a reload that shortens `ttl_s`
        shortens the entries already written (one that lengthens it, only the new ones'). An
        entry written later than now by more than _AHEAD_S is not fresh either: the clock was
        stepped back (NTP, a VM resume), and read against it the entry would be served its TTL
        plus the step."""
        return (
            entry.expires_ts > now
            and entry.created_ts + self.settings.ttl_s > now
            and entry.created_ts <= now + _AHEAD_S
        )

    def _written(self, entry_id: str, task: asyncio.Task[None]) -> None:
        if self._persisting.get(entry_id) is task:
            del self._persisting[entry_id]

    async def _persist(self, entry: Entry, keep: int | None) -> None:
        if not self._store_up():
            return  # kept in memory only
        try:
            await asyncio.to_thread(self.store.cache_put, to_row(entry), keep=keep)
        except StoreError as err:
            if err.transient:
                self._store_failed()
                log.warning(
                    "cache entry %s not stored (kept in memory only)", entry.id, exc_info=True
                )
            else:  # this entry's data was refused: the store is up for every other entry
                log.info(
                    "cache entry %s refused by the store (kept in memory only): %s", entry.id, err
                )
            return
        except Exception:
            self._store_failed()
            log.warning("cache entry %s not stored (kept in memory only)", entry.id, exc_info=True)
            return
        self._store_down_until = 0.0

    def _store_up(self) -> bool:
        """False while the store is known down: the cache is skipped (and counted)."""
        now = time.monotonic()
        if now < self._store_down_until:
            self.counts["errors"] += 1
            return False
        if self._store_down_until:  # this caller probes; the others keep skipping meanwhile
            self._store_down_until = now + _STORE_COOLDOWN_S
        return True

    def _store_failed(self) -> None:
        self.counts["errors"] += 1
        self._store_down_until = time.monotonic() + _STORE_COOLDOWN_S

    # -- the in-memory front ----------------------------------------------------------------
    def _insert(self, entry: Entry, vector: Any = None) -> None:
        if not entry.size:
            entry.size = footprint(entry)
        if entry.size > self.settings.max_bytes:  # read from the store (another bound wrote it)
            self.counts["too_big"] += 1
            return
        old = self._entries.get(entry.id)
        if old is not None:
            self._bytes -= old.size
        self._entries[entry.id] = entry
        self._entries.move_to_end(entry.id)
        self._bytes += entry.size
        if vector is None and entry.embedding is not None and self.semantic:
            import numpy

            vector = numpy.frombuffer(entry.embedding, dtype=numpy.float32)
        if vector is not None and entry.context_key is not None and self.semantic:
            try:
                self.matcher.add(entry.tenant, entry.context_key, entry.id, vector, text=entry.text)
            except Exception:
                self.counts["errors"] += 1
                log.warning("semantic matcher refused entry %s", entry.id, exc_info=True)
        self._bound()

    def _bound(self) -> None:
        """Evict the least recently used entries past `max_entries` / `max_bytes` (after a
        put, and when a reload lowers either)."""
        bound = self.settings
        while len(self._entries) > bound.max_entries or self._bytes > bound.max_bytes:
            oldest, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
            self._forget(oldest)
            self.counts["evicted"] += 1

    def _drop(self, entry_id: str) -> None:
        entry = self._entries.pop(entry_id, None)
        if entry is not None:
            self._bytes -= entry.size
            self._forget(entry_id)

    def _forget(self, entry_id: str) -> None:
        if self.semantic:
            try:
                self.matcher.remove(entry_id)
            except Exception:
                log.warning("semantic matcher: removing %s failed", entry_id, exc_info=True)

    @property
    def size(self) -> int:
        return len(self._entries)

    def _apply_purge(self, tenant: str | None, model: str | None, ts: float) -> None:
        for entry in list(self._entries.values()):
            if (
                (tenant is None or entry.tenant == tenant)
                and (model is None or entry.model == model)
                and entry.created_ts <= ts
            ):
                self._drop(entry.id)
                self.counts["invalidated"] += 1

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
