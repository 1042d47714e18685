"""ResponseCache: the cache lifecycle on the request path.

    lookup (after budget caps are known, before routing) -> Hit | miss/bypass
    a hit: served from the entry, recorded with cost 0 and the cost it saved, never reserved
    remember (after a complete, successful, non-error answer) -> local front + store

Identical requests in flight at once are coalesced (in this process): the first miss of an exact
key leads (it calls upstream), the others wait for its answer (at most `wait_s`) and are served
it as a hit; when it stores nothing (an error, a cut stream, an uncacheable answer) they go on as
misses. Fifty identical requests are one upstream call, not fifty. Only a request that would
wait that long anyway waits: a stream (its first token would come only with the leader's last)
and a request with a latency SLO of its own go on as misses.

Replicas: each keeps an in-memory LRU front (`max_entries`); on a local miss it reads through
to the store (one primary-key lookup, bounded by `_STORE_WAIT_S`). Every `sync_s` it writes hit
counts, applies the invalidations other replicas made (admin delete/purge, feedback), and, with
the semantic side on, adopts the entries they added (so its matcher sees them too). A restart
reloads the newest live entries. A cache or store failure never fails a request: the lookup
counts an error and the request goes on as a miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from arbiter import request_log
from arbiter.cache.answer import Entry, dump_answer, footprint, load_answer
from arbiter.cache.keys import Control, Keys, control, keys_for, links_media, uncacheable
from arbiter.cache.matcher import Matcher, NullMatcher, SemanticMatch, off_loop
from arbiter.canonical import CanonicalResponse
from arbiter.config import CacheSettings, TenantSettings
from arbiter.errors import ClientDisconnected
from arbiter.principal import Principal
from arbiter.records import GradeRecord
from arbiter.store import StoreError
from arbiter.types import ChatRequest

if TYPE_CHECKING:
    import numpy

    from arbiter.store import Store

log = logging.getLogger(__name__)

Status = Literal["hit", "semantic-hit", "miss", "bypass"]
_STORE_WAIT_S = 0.25  # a read-through slower than this is abandoned (counted as an error)
# after a store failure the cache leaves the store alone this long (memory only), so an outage
# never piles up threads waiting on it; then one call probes
_STORE_COOLDOWN_S = 1.0
_SYNC_OVERLAP_S = 5.0  # re-read this much of the last poll window (commits land out of order)
# a prompt this long is keyed in a worker thread: keys_for serialises and hashes the whole body
# (twice), ~10 ms of the loop at 1 MB of CJK on the dev box (bench/loop_time_by_prompt_size.py)
KEYS_OFF_LOOP_CHARS = 32 * 1024
_SERVED_MEMORY = 50_000  # hit decisions remembered for feedback without a store lookup


@dataclass(slots=True)
class Lookup:
    """What the cache said about one request."""

    status: Status
    write: bool = False  # store the answer when it is complete
    keys: Keys | None = None
    entry: Entry | None = None  # a hit's entry
    match: SemanticMatch | None = None  # a semantic hit's match
    vector: numpy.ndarray | None = None  # the last user turn's embedding (semantic side)
    tenant: str = ""
    flight: _Flight | None = None  # set when this request leads its key's flight (settle it)
    # a bypass's reason (keys.uncacheable's words, `linked_media`, `cache-control`): the
    # request's decision says it (`cache_info.bypass`)
    why: str | None = None
    # the request carries the output limit it is sent with (the client's, or the cap Arbiter
    # enforces: both in the key). Without one, an answer cut at `max_tokens` was cut by the
    # model's own limit, which the key does not hold: it is not stored (_remember)
    limited: bool = True


@dataclass(slots=True)
class _Flight:
    """An exact key being answered by one request (the leader) that others wait on."""

    done: asyncio.Event
    until: float  # time.monotonic(): past it the flight is stale (a leader never settled)


BYPASS = Lookup("bypass")


# the grades that take an answer out of the cache: a check against what the caller supplied (a
# reference answer, tests run in the sandbox) or the client's word. Not the sampled judge's (an
# LLM's opinion, wrong ~15% of the time by its own model: README) nor the automatic checks',
# whose low grades include an answer cut at the client's own max_tokens (what it asked for)
_EVICTING_GRADERS = frozenset({"feedback", "execution", "reference"})


def _remember_bounded(memory: OrderedDict[str, Any], key: str, value: Any) -> None:
    """`memory[key] = value`, the oldest forgotten past _SERVED_MEMORY."""
    memory[key] = value
    memory.move_to_end(key)
    if len(memory) > _SERVED_MEMORY:
        memory.popitem(last=False)


@dataclass(slots=True)
class _Served:
    tenant: str
    entry_id: str
    kind: Literal["exact", "semantic"]
    match: SemanticMatch | None
    task: str
    model: str


class ResponseCache:
    def __init__(
        self,
        settings: CacheSettings,
        tenants: Mapping[str, TenantSettings],
        store: Store,
        matcher: Matcher | None = None,
        *,
        sync_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_grade: Callable[[GradeRecord], None] | None = None,
        usable: Callable[[str], bool] = lambda model: True,
        wait_s: float = 150.0,
    ) -> None:
        """`on_grade` records a feedback grade of a hit decision (the decision feed); `usable`
        says whether a model may still answer (the registry: an operator may disable a model
        after it wrote entries, and its answers must go with it); `wait_s` bounds how long a request
        waits on an identical one in flight (the request deadline)."""
        self.settings = settings
        self._usable = usable
        self._wait_s = wait_s
        self._flights: dict[str, _Flight] = {}  # exact key -> its leader's flight
        self.store = store
        self.matcher: Matcher = matcher if matcher is not None else NullMatcher()
        self.semantic = settings.semantic and matcher is not None
        self.clock = clock
        self._on_grade = on_grade
        self._sync_s = sync_s
        self._per_tenant = {n: t.cache for n, t in tenants.items() if t.cache is not None}
        # on for anyone at all: when False the request path skips the cache entirely
        self.active = settings.enabled or any(self._per_tenant.values())
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # id -> entry, LRU order
        self._bytes = 0  # the entries' footprint() total, bounded by settings.max_bytes
        self._served: OrderedDict[str, _Served] = OrderedDict()  # hit decision id -> entry
        # the decisions whose answers this replica stored (decision id -> entry id), and those
        # graded wrong before their answer was stored (grading may finish first): graded()
        self._wrote: OrderedDict[str, str] = OrderedDict()
        self._persisting: dict[str, asyncio.Task[None]] = {}  # entry id -> its store write
        self._graded_low: OrderedDict[str, None] = OrderedDict()
        self._used: dict[str, tuple[int, float]] = {}  # hits not yet written to the store
        self._seen_invalidations: set[str] = set()
        # entry id -> when this replica invalidated it: a sync whose read of new entries raced
        # the delete must not bring the entry back (it would live until the next sync)
        self._invalidated_at: dict[str, float] = {}
        self._polled = 0.0
        self._store_down_until = 0.0  # time.monotonic(): skip the store until then
        self._puts = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self.counts: dict[str, float] = dict.fromkeys(
            ("hit", "semantic-hit", "miss", "bypass", "semantic_bypass", "errors", "stored",
             "evicted", "invalidated", "saved_usd", "saved_usd_semantic", "coalesced",
             "too_big", "cut"),
            0,
        )  # fmt: skip

    def on_for(self, tenant: str) -> bool:
        return self._per_tenant.get(tenant, self.settings.enabled)

    # -- the request path -------------------------------------------------------------------
    async def lookup(
        self,
        req: ChatRequest,
        principal: Principal,
        *,
        wait: bool = True,
        watch: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> Lookup:
        """What the cache says about `req`; a failure in here is counted and the request goes on
        uncached (a cache outage never fails a request). `wait`: whether it may wait for an
        identical request in flight (False: it leads one if none is, else goes on as a miss);
        `watch` wraps that wait (the server's: raise ClientDisconnected when the client leaves,
        so a follower whose client is gone is not served, nor recorded as, a hit)."""
        try:
            return await self._lookup(req, principal, wait, watch)
        except ClientDisconnected:
            raise
        except Exception:
            self.counts["errors"] += 1
            log.warning("cache lookup failed; the request goes on uncached", exc_info=True)
            return BYPASS

    async def _lookup(
        self,
        req: ChatRequest,
        principal: Principal,
        wait: bool,
        watch: Callable[[], AbstractContextManager[object]],
    ) -> Lookup:
        tenant = principal.tenant
        if not self.on_for(tenant):
            return BYPASS
        ctl = control(req.cache_control)
        if (why := self._bypass_reason(req, ctl)) is not None:
            self.counts["bypass"] += 1
            return Lookup("bypass", why=why)
        clamp = req.max_tokens if req.limit_injected else None
        ctx = request_log.CURRENT.get()
        beta = ctx.anthropic_beta if ctx is not None else None
        if len(req.prompt_text) > KEYS_OFF_LOOP_CHARS:  # two hashes of the whole body: a thread
            keys = await asyncio.to_thread(keys_for, req.protocol, req.body, principal, clamp, beta)
        else:
            keys = keys_for(req.protocol, req.body, principal, clamp, beta)
        limited = req.max_tokens is not None
        if not ctl.read:
            self.counts["bypass"] += 1
            look = Lookup("bypass", True, keys, tenant=tenant, why="cache-control", limited=limited)
            if self.semantic and keys.context is not None:  # it is written: embed it too
                look.vector = await self._embed(keys.text or "")
            return look
        now = self.clock()
        entry = await self._get(keys.exact, tenant, now)
        if entry is not None and self._servable(entry, principal):
            return self._hit(Lookup("hit", False, keys, entry, tenant=tenant))
        look = Lookup("miss", True, keys, tenant=tenant, limited=limited)
        if self.semantic and keys.context is not None:
            await self._semantic(look, principal, now)
            if look.entry is not None:
                return self._hit(look)
        entry = await self._follow(look, wait, watch)
        if entry is not None:
            self.counts["coalesced"] += 1
            look.status, look.entry, look.write, look.vector = "hit", entry, False, None
            return self._hit(look)
        self.counts["miss"] += 1
        return look

    def _bypass_reason(self, req: ChatRequest, ctl: Control) -> str | None:
        """Why the cache neither answers nor stores `req`, or None."""
        if not ctl.read and not ctl.write:
            return "cache-control"
        if (why := uncacheable(req.body)) is not None:
            return why
        if not self.settings.linked_media and links_media(req.body):
            return "linked_media"
        return None

    async def _follow(
        self, look: Lookup, wait: bool, watch: Callable[[], AbstractContextManager[object]]
    ) -> Entry | None:
        """A miss: lead its exact key's flight (None), or wait for the identical request that
        leads it and return the entry it stored (None when it stored none, or took too long:
        this request goes on as a miss of its own)."""
        assert look.keys is not None
        key = look.keys.exact
        flight = self._flights.get(key)
        now = time.monotonic()
        if flight is None or flight.until <= now:  # none, or one whose leader never settled
            # A leader may have stored the answer and settled while this request awaited its
            # store read: look at the local front once more (no await until the flight is set).
            stored = self._entries.get(key)
            if (
                stored is not None
                and stored.tenant == look.tenant
                and stored.expires_ts > self.clock()
                and self._usable(stored.model)
            ):
                return stored
            look.flight = self._flights[key] = _Flight(asyncio.Event(), now + self._wait_s)
            return None
        if not wait:
            return None
        try:
            async with asyncio.timeout(flight.until - now):
                with watch():  # only a follower pays for watching its client
                    await flight.done.wait()
        except TimeoutError:
            return None
        entry = await self._get(key, look.tenant, self.clock())
        if entry is None or not self._usable(entry.model):
            return None
        return entry

    def settle(self, look: Lookup | None) -> None:
        """The leader's request is over (answered, stored or not, or failed): wake the ones
        waiting on it. Idempotent; a no-op for a request that led nothing."""
        if look is None or look.flight is None:
            return
        flight, look.flight = look.flight, None
        assert look.keys is not None
        if self._flights.get(look.keys.exact) is flight:
            del self._flights[look.keys.exact]
        flight.done.set()

    async def _semantic(self, look: Lookup, principal: Principal, now: float) -> None:
        keys = look.keys
        assert keys is not None and keys.context is not None
        try:
            vector = await self._embed(keys.text or "")
            if vector is None:
                return
            look.vector = vector
            match = await off_loop(
                self.matcher.lookup, look.tenant, keys.context, keys.text or "", vector
            )
        except Exception:
            self.counts["errors"] += 1
            log.warning("semantic cache lookup failed; served as a miss", exc_info=True)
            return
        if match is None:
            return
        entry = await self._get(match.entry_id, look.tenant, now)
        # the matcher is an index: the entry itself must belong to this tenant and context
        if (
            entry is not None
            and entry.tenant == look.tenant
            and entry.context_key == keys.context
            and self._servable(entry, principal)
        ):
            look.status, look.entry, look.match = "semantic-hit", entry, match

    def _servable(self, entry: Entry, principal: Principal) -> bool:
        """A key restricted to some models is never served another model's answer, and no one
        is served the answer of a model that is now disabled (or gone from the registry): a
        named request for it is a 404 on a miss, so it is on a hit too."""
        if principal.allowed_models is not None and entry.model not in principal.allowed_models:
            return False
        return self._usable(entry.model)

    async def _embed(self, text: str) -> numpy.ndarray | None:
        vector = await off_loop(self.matcher.embed, text)
        if vector is None:
            self.counts["semantic_bypass"] += 1
        return vector

    def _hit(self, look: Lookup) -> Lookup:
        entry = look.entry
        assert entry is not None
        self.counts[look.status] += 1
        entry.hits += 1
        n, _ = self._used.get(entry.id, (0, 0.0))
        self._used[entry.id] = (n + 1, self.clock())
        return look

    def served(self, decision_id: str, look: Lookup, saved_usd: float) -> None:
        """A hit went out as decision `decision_id` (feedback on it finds the entry here),
        saving `saved_usd` (cache_path.saved_now: the call at today's prices)."""
        assert look.entry is not None
        kind: Literal["exact", "semantic"] = "semantic" if look.match is not None else "exact"
        self.counts["saved_usd"] += saved_usd
        if kind == "semantic":
            self.counts["saved_usd_semantic"] += saved_usd
        self._served[decision_id] = _Served(
            look.tenant, look.entry.id, kind, look.match, look.entry.task, look.entry.model
        )
        if len(self._served) > _SERVED_MEMORY:
            self._served.popitem(last=False)

    async def _get(self, entry_id: str, tenant: str, now: float) -> Entry | None:
        entry = self._entries.get(entry_id)
        if entry is not None:
            if entry.tenant != tenant:
                return None  # ids cover the tenant: never true, kept as the isolation guard
            if entry.expires_ts > now:
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
            entry = _entry(row)
        except Exception:  # a row this version cannot read: a miss
            self.counts["errors"] += 1
            log.warning("cache entry %s is unreadable; ignored", entry_id, exc_info=True)
            return None
        self._insert(entry)
        return entry

    def remember(
        self,
        look: Lookup,
        *,
        model: str,
        task: str,
        answer: CanonicalResponse,
        cost_usd: float,
        decision_id: str,
    ) -> None:
        """Store a complete, successful answer (the caller checked that it is one). Never
        raises: the answer is already on its way to the client."""
        try:
            self._remember(look, model, task, answer, cost_usd, decision_id)
        except Exception:
            self.counts["errors"] += 1
            log.warning("cache entry not stored", exc_info=True)

    def _remember(
        self,
        look: Lookup,
        model: str,
        task: str,
        answer: CanonicalResponse,
        cost_usd: float,
        decision_id: str,
    ) -> None:
        if not look.write or look.keys is None:
            return
        if decision_id in self._graded_low:  # graded wrong already: never served
            return
        if answer.stop_reason == "max_tokens" and not look.limited:
            # cut by a limit the request did not set (the model's own, or the default sent to
            # one that requires a limit): another model, or the same one after its limit was
            # raised, would answer whole; the key cannot tell them apart, so keep none
            self.counts["cut"] += 1
            return
        now = self.clock()
        keys = look.keys
        if answer.usage.cost is not None:  # the source call's, never a hit's (cost 0)
            answer = replace(answer, usage=replace(answer.usage, cost=None))
        embedding = None
        if look.vector is not None:
            import numpy

            embedding = numpy.asarray(look.vector, dtype=numpy.float32).tobytes()
        entry = Entry(
            keys.exact, look.tenant, keys.exact, keys.context, model, task, answer, cost_usd,
            decision_id, now, now + self.settings.ttl_s, 0, keys.text, embedding,
        )  # fmt: skip
        entry.size = footprint(entry)
        if entry.size > self.settings.max_bytes:  # it alone would evict the whole front
            self.counts["too_big"] += 1
            return
        if self._entries.get(entry.id) is not None:
            self._drop(entry.id)  # replaced: the matcher must forget the old vector first
        self._insert(entry, look.vector)
        self.counts["stored"] += 1
        _remember_bounded(self._wrote, decision_id, entry.id)
        self._puts += 1
        # the store's LRU bound is applied every 1/16 of max_entries puts (at most that over)
        keep = self.settings.max_entries
        prune = self._puts % max(1, keep // 16) == 0
        write = self._spawn(self._persist(entry, keep if prune else None))
        self._persisting[entry.id] = write
        write.add_done_callback(functools.partial(self._written, entry.id))

    def _written(self, entry_id: str, task: asyncio.Task[None]) -> None:
        if self._persisting.get(entry_id) is task:
            del self._persisting[entry_id]

    async def _persist(self, entry: Entry, keep: int | None) -> None:
        if not self._store_up():
            return  # kept in memory only
        try:
            await asyncio.to_thread(self.store.cache_put, _row(entry), keep=keep)
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

    # -- invalidation (admin API, feedback) -------------------------------------------------
    async def invalidate(self, entry_id: str, tenant: str | None = None) -> bool:
        entry = self._entries.get(entry_id)
        if entry is not None and (tenant is None or entry.tenant == tenant):
            self._drop(entry_id)
            self._invalidated_at[entry_id] = self.clock()
            self.counts["invalidated"] += 1
        return await asyncio.to_thread(self.store.cache_delete, entry_id, tenant, self.clock())

    def graded(self, grade: GradeRecord) -> None:
        """A grade of an answer (one of the learner's observers). Below 0.5 from a grader in
        _EVICTING_GRADERS (a reference that does not match, code failing the caller's tests,
        the client's feedback): the entry it wrote goes, everywhere, as feedback's does; one
        graded before it was stored is never stored. Routing learns the answer was wrong: the
        cache must not keep handing it out."""
        if grade.score >= 0.5 or grade.grader not in _EVICTING_GRADERS or not self.active:
            return
        entry_id = self._wrote.pop(grade.decision_id, None)
        if entry_id is None:
            _remember_bounded(self._graded_low, grade.decision_id, None)
            return
        entry = self._entries.get(entry_id)
        if entry is not None and entry.decision_id == grade.decision_id:
            self._drop(entry_id)
            self._invalidated_at[entry_id] = self.clock()
            self.counts["invalidated"] += 1
        # a write still on its way would land after the delete and bring the entry back
        pending = self._persisting.get(entry_id)
        try:
            self._spawn(self._delete_source(grade.decision_id, after=pending))
        except RuntimeError:  # no running loop (a grade applied outside the server's)
            log.warning("cache entries of %s not invalidated in the store", grade.decision_id)

    async def _invalidate_source(self, decision_id: str) -> None:
        for entry in [e for e in self._entries.values() if e.decision_id == decision_id]:
            self._drop(entry.id)
            self.counts["invalidated"] += 1
        await self._delete_source(decision_id)

    async def _delete_source(
        self, decision_id: str, after: asyncio.Task[None] | None = None
    ) -> None:
        """The store's entries of `decision_id` deleted, the invalidation recorded for the
        other replicas; `after`: the entry's write, if still running, is awaited first."""
        if after is not None:
            await asyncio.wait([after])
        try:
            await asyncio.to_thread(self.store.cache_delete_source, decision_id, self.clock())
        except Exception:
            self._store_failed()
            log.warning("cache entries of %s not invalidated in the store", decision_id)

    async def purge(self, tenant: str | None, model: str | None) -> int:
        now = self.clock()
        self._apply_purge(tenant, model, now)
        return await asyncio.to_thread(
            lambda: self.store.cache_purge(tenant=tenant, model=model, ts=now)
        )

    def _apply_purge(self, tenant: str | None, model: str | None, ts: float) -> None:
        for entry in list(self._entries.values()):
            if (
                (tenant is None or entry.tenant == tenant)
                and (model is None or entry.model == model)
                and entry.created_ts <= ts
            ):
                self._drop(entry.id)
                self.counts["invalidated"] += 1

    async def feedback(
        self,
        decision_id: str,
        score: float,
        tenant: str | None,
        lookup: Callable[[str], Awaitable[dict[str, Any] | None]],
    ) -> dict[str, Any] | None:
        """Feedback on a decision served from the cache (None: it was not): a score below 0.5
        says the answer was wrong for this request, so the entry goes (everywhere), and a
        semantic hit's matcher learns from it either way. A low score on the decision that
        wrote an entry removes that entry too (then None: routing learns from it as usual)."""
        served = self._served.get(decision_id)
        if served is None:
            row = await lookup(decision_id)
            if row is None or row.get("mode") != "cache" or not row.get("cache_info"):
                if row is not None and score < 0.5 and (tenant is None or row["tenant"] == tenant):
                    await self._invalidate_source(decision_id)
                return None
            info = row["cache_info"]
            match = None
            if row.get("cache_kind") == "semantic":
                match = SemanticMatch(
                    info["entry_id"], float(info["similarity"]), float(info["p_false"])
                )
            served = _Served(
                row["tenant"], info["entry_id"], row["cache_kind"], match, row["task"],
                row["chosen_model"],
            )  # fmt: skip
        if tenant is not None and served.tenant != tenant:
            return None  # the caller's learner answers "no such decision"
        wrong = score < 0.5
        removed = await self.invalidate(served.entry_id, served.tenant) if wrong else False
        if served.match is not None:
            await off_loop(self.matcher.learn, served.tenant, served.match, wrong)
        if self._on_grade is not None:
            self._on_grade(
                GradeRecord(
                    decision_id,
                    time.time(),
                    served.tenant,
                    served.task,
                    served.model,
                    score,
                    "feedback",
                    f"client feedback on a {served.kind} cache hit",
                )
            )
        return {
            "decision_id": decision_id,
            "score": score,
            "cache": served.kind,
            "entry_id": served.entry_id,
            "invalidated": wrong,
            "removed": removed,
        }

    # -- lifecycle --------------------------------------------------------------------------
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
            self._insert(_entry(row))
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
                    self._insert(_entry(row))
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

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- what /arbiter/stats and /metrics show ----------------------------------------------
    def view(self) -> dict[str, Any]:
        c = self.counts
        lookups = c["hit"] + c["semantic-hit"] + c["miss"]
        return {
            "enabled": self.active,
            "semantic": self.semantic,
            "entries": len(self._entries),
            "bytes": self._bytes,
            "hits": int(c["hit"]),
            "semantic_hits": int(c["semantic-hit"]),
            "misses": int(c["miss"]),
            "bypasses": int(c["bypass"]),
            "semantic_bypasses": int(c["semantic_bypass"]),
            "errors": int(c["errors"]),
            "stored": int(c["stored"]),
            "evicted": int(c["evicted"]),
            "coalesced": int(c["coalesced"]),  # hits that waited on an identical request
            "too_big": int(c["too_big"]),  # answers over max_bytes, not cached
            # answers cut at a limit the request did not set, not cached (_remember)
            "cut_unlimited": int(c["cut"]),
            "hit_rate": (c["hit"] + c["semantic-hit"]) / lookups if lookups else None,
            "saved_usd": c["saved_usd"],
        }

    def metrics_text(self) -> str:
        c = self.counts
        lines = [
            "# HELP arbiter_cache_requests_total Response-cache outcomes (this process).\n",
            "# TYPE arbiter_cache_requests_total counter\n",
        ]
        for result in ("hit", "semantic-hit", "miss", "bypass"):
            lines.append(f'arbiter_cache_requests_total{{result="{result}"}} {int(c[result])}\n')
        for name, help_, value in (
            ("arbiter_cache_semantic_bypass_total",
             "Prompts the semantic matcher could not embed.", c["semantic_bypass"]),
            ("arbiter_cache_errors_total",
             "Cache or store failures skipped (the request went on as a miss).", c["errors"]),
            ("arbiter_cache_evictions_total", "Entries evicted by the size bound.", c["evicted"]),
            ("arbiter_cache_saved_usd_total",
             "Upstream spend avoided by cache hits (the source answers' cost), in USD.",
             c["saved_usd"]),
        ):  # fmt: skip
            lines.append(f"# HELP {name} {help_}\n# TYPE {name} counter\n{name} {value!r}\n")
        lines.append(
            "# HELP arbiter_cache_entries Entries in this process's cache front.\n"
            f"# TYPE arbiter_cache_entries gauge\narbiter_cache_entries {len(self._entries)}\n"
        )
        return "".join(lines)


def _row(e: Entry) -> tuple[Any, ...]:
    # PostgreSQL text cannot hold NUL (the client's own text may): U+FFFD, which the semantic
    # side never embeds either (semantic.embeddable), so a replica reading it back matches alike
    text = e.text.replace("\x00", "\ufffd") if e.text is not None else None
    return (
        e.id, e.tenant, e.context_key, e.model, e.task, dump_answer(e.answer), e.cost_usd,
        e.decision_id, e.created_ts, e.expires_ts, e.created_ts, e.hits, text, e.embedding,
    )  # fmt: skip


def _entry(row: tuple[Any, ...]) -> Entry:
    (entry_id, tenant, context_key, model, task, answer, cost, decision_id, created, expires,
     _used, hits, text, embedding) = row  # fmt: skip
    return Entry(
        entry_id, tenant, entry_id, context_key, model, task, load_answer(answer), float(cost),
        decision_id, float(created), float(expires), int(hits), text,
        bytes(embedding) if embedding is not None else None,
    )  # fmt: skip
