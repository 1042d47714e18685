"""The response cache across restarts and replicas: reload the newest live entries at start, and
every `sync_s` write hit counts, apply the invalidations other replicas made and (semantic side
on) adopt the entries they added; prune expired and over-bound rows now and then."""

from __future__ import annotations

import asyncio
import contextlib

from arbiter.cache.entry_rows import from_row
from arbiter.cache.front import CacheFront, log

_SYNC_OVERLAP_S = 5.0  # re-read this much of the last poll window (commits land out of order)


class ReplicaSync(CacheFront):
    _sync_s: float
    _sync_task: asyncio.Task[None] | None
    _polled: float
    _seen_invalidations: set[str]
    _used: dict[str, tuple[int, float]]  # hits not yet written to the store

    async def start(self) -> None:
        """Reload the newest live entries (their embeddings into the matcher), then sync."""
        if not self.active:
            return
        now = self.clock()
        self._polled = now
        try:
            rows = await asyncio.to_thread(
                self.store.cache_since, now - self.settings.ttl_s, now, self.settings.max_entries
            )
        except Exception:
            self.counts["errors"] += 1
            log.warning("cache entries not loaded from the store", exc_info=True)
            rows = []
        for row in reversed(rows):  # oldest first: the newest end up most recently used
            self._insert(from_row(row))
        self._sync_task = asyncio.get_running_loop().create_task(self._sync_loop())

    async def stop(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        await self.drain(5.0)
        try:
            await self._write_hits()
        except Exception:
            log.warning("cache hit counts not written", exc_info=True)

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for the entries being written to the store."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def _sync_loop(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self._sync_s)
            rounds += 1
            try:
                await self.sync(prune=rounds % 60 == 0)
            except Exception:  # the store may be down: serve from memory, retry next round
                self.counts["errors"] += 1
                log.warning("cache sync failed; will retry", exc_info=True)

    async def sync(self, *, prune: bool = False) -> None:
        """One exchange with the store: hit counts out, others' invalidations (and, semantic,
        their new entries) in; `prune` drops expired and over-bound rows."""
        await self._write_hits()
        now = self.clock()
        since = self._polled - _SYNC_OVERLAP_S
        for inv_id, ts, entry_id, tenant, model in await asyncio.to_thread(
            self.store.cache_invalidations, since
        ):
            if inv_id in self._seen_invalidations:
                continue
            self._seen_invalidations.add(inv_id)
            if entry_id is not None:
                entry = self._entries.get(entry_id)
                if entry is not None and entry.created_ts <= ts:
                    self._drop(entry_id)
            else:
                self._apply_purge(tenant, model, ts)
        if self.semantic:
            rows = await asyncio.to_thread(
                self.store.cache_since, since, now, self.settings.max_entries
            )
            for row in reversed(rows):
                gone = self._invalidated_at.get(row[0])
                if gone is not None and row[8] <= gone:
                    continue  # read before our own delete landed: still invalidated
                known = self._entries.get(row[0])
                if known is None or known.created_ts < row[8]:
                    self._insert(from_row(row))
        self._polled = now
        # a row this old is no longer read by a sync (its window starts at since - overlap)
        old = since - _SYNC_OVERLAP_S
        self._invalidated_at = {k: t for k, t in self._invalidated_at.items() if t >= old}
        if len(self._seen_invalidations) > 10_000:
            self._seen_invalidations.clear()  # re-applying an old one is harmless
        if prune:
            await asyncio.to_thread(
                lambda: self.store.cache_prune(
                    now=now, keep=self.settings.max_entries, invalidations_before=now - 3600
                )
            )

    async def _write_hits(self) -> None:
        used, self._used = self._used, {}  # swapped on the loop: hits go on counting meanwhile
        if not used:
            return
        try:
            await asyncio.to_thread(self.store.cache_touch, used)
        except Exception:
            for entry_id, (n, ts) in used.items():  # keep them for the next round
                old_n, old_ts = self._used.get(entry_id, (0, 0.0))
                self._used[entry_id] = (n + old_n, max(ts, old_ts))
            raise
