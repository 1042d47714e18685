"""Learned state kept in step with the store, for one sidecar (`Services.sync`).

Start-up's reads (load_state), the periodic sync (the policy's deltas out and every replica's
totals in, latency sums, prompt lines, answer-length fits, registry overrides and adopted price
factors), and acting on a detected change (change events: arm resets, a price factor adopted
under the registry's lock, a latency level) with the note decisions carry for an hour.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from arbiter import cost_ratio, stalls
from arbiter.alerts import CHANGE_ONCE_S, ChangeEvent
from arbiter.errors import InvalidRequest
from arbiter.price_factor_sync import SharedPriceFactors
from arbiter.records import PolicyDelta
from arbiter.registry import validate_patch
from arbiter.store import StoreError
from arbiter.store.arm_resets import ArmResetRow
from arbiter.store.latency import shifted

if TYPE_CHECKING:
    from arbiter.services import Services

log = logging.getLogger(__name__)
# prompt lines written by processes this recent seed a starting one (store/prompt_fits.py)
FITS_HORIZON_S = 7 * 86400.0
CHANGE_NOTE_S = 3600.0  # how long decisions name a detected change in their reason
OFFSET_EVERY_S = 60.0  # how often the store's clock is read again (store.clock_offset)
# policy batches held through a store outage (one a sync: 1,000 are ~17 minutes at the default
# 1 s); past them the grades wait in the policy and go as one batch once these are written
UNSENT_MAX = 1000
# queued batches written per transaction (store/policy_batches.py): 1,000 one transaction
# each took ~7 s on PostgreSQL; a bound, so no one transaction holds the arms' locks long
BATCHES_PER_WRITE = 100


class StateSync:
    def __init__(self, services: Services) -> None:
        self._s = services
        # model -> (until, note): recent detected changes, named in the reasons of decisions
        # that weigh that model (empty almost always: one dict check per request)
        self.recent_changes: dict[str, tuple[float, str]] = {}
        # price factors the change detector adopted while the lock was taken (_adopt_price_factor)
        self._factors_pending: dict[str, float] = {}
        self.factors_task: asyncio.Task[None] | None = None
        self.shared_factors = SharedPriceFactors()  # adopted factors, through the store
        # this process's rows of prompt_fits, length_fits and arm_log (store/arm_resets.py)
        self._fits_replica = uuid.uuid4().hex[:16]
        # the policy batches not yet written, oldest first: (id, resets, deltas, taken at)
        self._unsent: deque[tuple[str, list[ArmResetRow], list[PolicyDelta], float]] = deque()
        # held while batches are taken and written: the periodic sync and the stop's last one
        # run in threads of their own, and both popping one written batch emptied the queue
        self._pushing = threading.Lock()
        self._arms_mark: Any = None  # the store's (opaque) sync mark after the last policy sync
        self.last_sync_rows = 0  # arms rows the last policy sync fetched
        # the latency rows' times (decay reference, epoch) are shared on the store's clock:
        # read on this replica's own, a replica minutes ahead weighed its evidence as fresher
        # and its latency epoch outranked a later one (`clock`: the latency model's, a test's)
        self.clock: Callable[[], float] = time.time
        self._offset, self._offset_at = 0.0, -math.inf

    # -- the store's reads and writes -------------------------------------------------------
    def load_state(self) -> None:
        """The store I/O of start-up: the schema, the learned policy, registry overrides."""
        s = self._s
        s.store.migrate()
        arms, self._arms_mark = s.store.load_arms_since(None)
        s.policy.replace_synced(arms)
        self.last_sync_rows = len(arms)
        self._replace_latency(self._store_offset())
        self.refresh_registry()
        # the markups upstreams' own reports showed, at the prices now adopted: a restarted
        # process holds its first burst at them (cost_ratio.seed)
        cost_ratio.seed(s.cost_ratios, s.store.recent_reported_costs(), s.registry.get)
        # and the prompt lines earlier processes learnt (prompt_ratio.py), a week's
        s.prompt_ratios.seed(s.store.load_prompt_fits(time.time() - FITS_HORIZON_S))
        # and the answer-length regressions (output_length.py): an SLO's first predictions
        refused = s.lengths.seed(s.store.load_length_fits(time.time() - FITS_HORIZON_S))
        if refused:
            log.warning("output length: stored regressions not read: %s", ", ".join(refused))
        s.shadow.refresh()

    def refresh_registry(self) -> None:
        """Adopt registry overrides and adopted price factors from the store (any replica may
        have made them; this one's adopted factors are written first).
        Read and apply under one lock: the sync thread and a discovery poll both refresh, and a
        snapshot read before the other's write must never be applied after it."""
        s = self._s
        with s._registry_lock:
            discovered = s.store.discovered_models() if s.discovery.upstreams else None
            changed = s.registry.apply(_valid_overrides(s.store.model_overrides()), discovered)
            factors = self.shared_factors.sync(s.store, s.registry, s.alerts.forget_price)
            for model, factor in factors:  # another replica's detection: named here too
                self.recent_changes[model] = (
                    time.time() + CHANGE_NOTE_S,
                    _price_note(model, factor),
                )
            if changed or factors:
                s._pool_changed()
                log.info("registry overrides applied: %d routable models", len(s.pool))

    async def sync_loop(self) -> None:
        s = self._s
        interval = s.settings.store.sync_interval_ms / 1000
        failing_since: float | None = None  # when syncs began failing on an unavailable store
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(stalls.SYNC.run, self.sync_policy)
            except StoreError as err:  # the store is down: keep serving from memory, retry
                # one line when it starts and one when it is back (recorder.py does the same):
                # a traceback every interval buried those two under thousands of lines
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning("policy sync failed, store unavailable: %s; serving the "
                                "policy in memory, retrying every %gs", err, interval)  # fmt: skip
                else:
                    log.debug("policy sync failed again: %s", err)
            except Exception:  # not the store's outage: a bug, with its stack every time
                log.warning("policy sync failed; will retry", exc_info=True)
            else:
                if failing_since is not None:
                    log.warning("policy sync back after %.1fs", time.monotonic() - failing_since)
                    failing_since = None
            try:
                await self.cut_revoked()
            except StoreError as err:
                log.debug("revoked keys' check failed: %s", err)
            except Exception:
                log.warning("revoked keys' check failed; will retry", exc_info=True)
            try:
                await s.budgets.keep_lease()  # on its own cadence (a third of the lease)
            except Exception:  # never let the loop die: the lease would lapse with it
                log.warning("budget lease renewal failed; will retry", exc_info=True)
            if s.spool is not None:
                try:
                    await asyncio.to_thread(s._replay_spools)
                except Exception:
                    log.warning("decision spool upkeep failed; will retry", exc_info=True)

    def sync_policy(self) -> None:
        """Push local additive deltas, then adopt the store's totals (every replica's sum).

        A batch that failed is retried with the same batch id, so a write whose commit landed
        but whose reply was lost is never counted twice. While the store is down a batch is
        still taken each sync (up to UNSENT_MAX) and written in order after (BATCHES_PER_WRITE
        a transaction), each logged as of when it was taken: one batch of the whole outage,
        stamped when written, counted the grades from before a change begun meanwhile as
        grades since it in another replica's reset (store/arm_resets.py)."""
        s = self._s
        with self._pushing:
            if len(self._unsent) < UNSENT_MAX:
                resets, deltas = s.policy.take_batch()
                if resets or deltas:
                    self._unsent.append((uuid.uuid4().hex, resets, deltas, time.time()))
            while self._unsent:  # a retry of a batch whose commit landed finds it, skips
                chunk = list(itertools.islice(self._unsent, BATCHES_PER_WRITE))
                s.store.write_batches(chunk, CHANGE_ONCE_S, self._fits_replica)
                for _ in chunk:
                    self._unsent.popleft()
        if self._arms_mark is None:
            arms, self._arms_mark = s.store.load_arms_since(None)
            s.policy.replace_synced(arms)
        else:  # only the arms any replica changed since the last sync (deltas, not the table)
            arms, self._arms_mark = s.store.load_arms_since(self._arms_mark)
            s.policy.apply_synced(arms)
        self.last_sync_rows = len(arms)
        # latency: this replica's changed sums replace its rows (idempotent), everyone's are read
        rows = s.latency.rows(changed_only=True)
        try:
            offset = self._store_offset()
            s.store.write_latency([shifted(r, offset) for r in rows])
        except Exception:
            s.latency.unsent(rows)
            raise
        self._replace_latency(offset)
        # the prompt lines: this replica's changed ones shared, the others' read at start only
        fits = s.prompt_ratios.take_changed()
        try:
            s.store.write_prompt_fits(self._fits_replica, fits, time.time())
        except Exception:
            s.prompt_ratios.unsent(fits)
            raise
        # the answer-length regressions observed since (this replica's rows: idempotent)
        parts = s.lengths.states(changed_only=True)
        try:
            s.store.write_length_fits(self._fits_replica, parts, time.time())
        except Exception:
            s.lengths.unsent([p for p, _ in parts])
            raise
        self.refresh_registry()
        s.shadow.refresh()

    async def cut_revoked(self) -> int:
        """End the running streams of keys any replica revoked (key_streams.py): the store is
        asked only about the keys with a stream running here, by id."""
        keys = self._s.key_streams.keys()
        if not keys:
            return 0
        revoked = await asyncio.to_thread(self._s.store.revoked_among, keys)
        return self._s.key_streams.cut(revoked) if revoked else 0

    def _replace_latency(self, offset: float) -> None:
        """Every replica's latency rows, their times moved from the store's clock to this one's.
        (Rows older than the horizon weigh under 1e-6 of a fresh one: not worth reading.)"""
        s = self._s
        horizon = self.clock() + offset - 20 * s.settings.latency.half_life_s
        s.latency.replace_others([shifted(r, -offset) for r in s.store.load_latency(horizon)])

    @property
    def offset(self) -> float:
        """The store's clock less this replica's, as last read (0 before the first read)."""
        return self._offset

    def store_time(self) -> float:
        """Now on the store's clock, as this replica last read it (its own before the first
        sync; the same on SQLite): what shared times (the cache's entries) are stamped with."""
        return self.clock() + self._offset

    def _store_offset(self) -> float:
        """The store's clock less this replica's, read again each OFFSET_EVERY_S."""
        now = self.clock()
        if now - self._offset_at >= OFFSET_EVERY_S:
            self._offset, self._offset_at = self._s.store.clock_offset(self.clock), now
        return self._offset

    # -- detected changes -------------------------------------------------------------------
    def on_change(self, event: ChangeEvent) -> None:
        """Act on a detected change at once, rather than letting old evidence outvote it."""
        s = self._s
        c = event.change
        if c.signal == "quality" and event.task is not None:
            # the arm's evidence becomes the grades since the change alone: set, not added to,
            # once per change in the store (two replicas' deltas subtracted the past twice),
            # with every replica's grades since it began (its times on the store's clock)
            key = (event.tenant, event.task, event.model)
            count, total = event.since
            started = c.started + self._offset if c.started > 0 else 0.0
            detected = c.detected + self._offset if c.detected > 0 else self.store_time()
            s.policy.reset(
                key, c.direction, total, count - total, count, started, detected,
                (c.before, c.after),
            )  # fmt: skip
            note = (
                f"{event.model} on {event.task}: grades changed {c.before:.2f} -> {c.after:.2f}, "
                "evidence from before the change dropped"
            )
        elif c.signal == "price":
            self._adopt_price_factor(event.model, c.after)
            self.shared_factors.adopted(s.registry, event.model, c.after)
            note = _price_note(event.model, c.after)
        else:
            # the level moved by c.magnitude: the latency model restarts there at once (every
            # replica), and the detector re-learns its reference from the new level
            f = s.latency.estimate(event.model)
            m = c.magnitude
            s.latency.adopt(
                event.model,
                ttft_ms=math.exp(f.ttft_mu) * m * 1000.0,
                tokens_per_s=math.exp(f.speed_mu) / m,
            )
            s.alerts.forget_latency(event.model)
            note = f"{event.model}: latency x{m:.2f} of what it was learned to take, adopted"
        self.recent_changes[event.model] = (time.time() + CHANGE_NOTE_S, note)
        log.warning("change detected: %s", note, extra={"model": event.model, "signal": c.signal})

    def _adopt_price_factor(self, model: str, factor: float) -> None:
        """Price `model` at `factor` under the registry's lock, as every other change to it is:
        adopted while the sync thread's refresh was mid-way through its own, it changed the
        factors dict that refresh was reading (the refresh failed, half swapped in) or was
        overwritten by the refresh's older copy. The loop never waits on the lock (a refresh
        holds it over store reads): while it is taken, the factor waits for it off the loop,
        the latest per model kept (`_adopt_pending`)."""
        lock = self._s._registry_lock
        self._factors_pending[model] = factor
        if lock.acquire(blocking=False):
            try:
                self._adopt_factors()
            finally:
                lock.release()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the loop (a thread's settle): this thread may wait
            with lock:
                self._adopt_factors()
            return
        if self.factors_task is None or self.factors_task.done():
            self.factors_task = loop.create_task(self._adopt_pending())

    async def _adopt_pending(self) -> None:
        lock = self._s._registry_lock
        taking = asyncio.ensure_future(asyncio.to_thread(lock.acquire))
        try:
            await asyncio.shield(taking)
        except asyncio.CancelledError:  # the thread still takes it: given back once it has
            taking.add_done_callback(lambda _: lock.release())
            raise
        try:  # on the loop again, under the lock: no refresh in between
            self._adopt_factors()
        finally:
            lock.release()

    def _adopt_factors(self) -> None:
        """The pending price factors adopted; the caller holds the registry's lock."""
        pending, self._factors_pending = self._factors_pending, {}
        changed = [self._s.registry.adopt_price_factor(m, f) for m, f in pending.items()]
        if any(changed):
            self._s._pool_changed()

    def change_notes(self, models: Iterable[str]) -> str:
        """'; change: ...' for the models with a recent detected change, else ''."""
        now = time.time()
        notes = []
        for m in models:
            hit = self.recent_changes.get(m)
            if hit is not None:
                if hit[0] < now:
                    self.recent_changes.pop(m, None)  # (the sync thread may set it meanwhile)
                else:
                    notes.append(hit[1])
        return "".join(f"; change: {n}" for n in notes)


def _price_note(model: str, factor: float) -> str:
    return f"{model}: price now x{factor:.2f} of the configured price, adopted"


def _valid_overrides(stored: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The stored patches the admin API would take (registry.validate_patch); another (a field
    this version does not know, a price that is text: a hand edit, a newer replica's field)
    is left out, logged, instead of failing the registry refresh of every replica, and so its
    start-up, on `dataclasses.replace` or later on a request's arithmetic."""
    out = {}
    for name, patch in stored.items():
        try:
            out[name] = validate_patch(patch) if patch else {}
        except InvalidRequest as err:
            if len(_IGNORED_OVERRIDES) < 10_000 and name not in _IGNORED_OVERRIDES:
                _IGNORED_OVERRIDES.add(name)  # said once, not on every sync
                log.warning("registry: the stored override of %r is ignored: %s", name, err.message)
    return out


_IGNORED_OVERRIDES: set[str] = set()
