"""ResponseCache: the cache lifecycle on the request path.

    lookup (after budget caps are known, before routing) -> Hit | miss/bypass
    a hit: served from the entry, recorded with cost 0 and the cost it saved, never reserved
    remember (after a complete, successful, non-error answer) -> local front + store

Identical requests in flight at once are coalesced (in this process): the first miss of an exact
key leads (it calls upstream), the others wait for its answer (at most `wait_s`) and are served
it as a hit; when it stores nothing (an error, a cut stream, an uncacheable answer) they go on as
misses, except when its client left: then the first of them leads and the rest wait on it.
Fifty identical requests are one upstream call, not fifty. Streams too: a chat stream without
tools joins a streaming leader's answer as it comes (live_answer.py, live_follow.py: first
token early for every follower); a stream whose leader is a whole answer, a stream that cannot
join (tools, the Responses API), and a request with a latency SLO of its own go on as misses.

Replicas: each keeps an in-memory LRU front (`max_entries`); on a local miss it reads through
to the store (one primary-key lookup, bounded by `front._STORE_WAIT_S`). Every `sync_s` it
writes hit counts, applies the invalidations other replicas made (admin delete/purge,
feedback), and, with the semantic side on, adopts the entries they added (so its matcher sees
them too). A restart reloads the newest live entries. A cache or store failure never fails a
request: the lookup counts an error and the request goes on as a miss.

This module is the request path (lookup, coalescing, remember); the rest of ResponseCache is in
its parts: front.py (the state, the LRU front, store read-through and write-behind),
invalidation.py (admin delete/purge, feedback, grades), replica_sync.py (start, stop, the sync
with other replicas), cache_stats.py (/arbiter/stats, /metrics), entry_rows.py (store rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from arbiter import request_log
from arbiter.cache.answer import Entry, footprint
from arbiter.cache.cache_stats import CacheStats
from arbiter.cache.front import SERVED_MEMORY, log, remember_bounded
from arbiter.cache.invalidation import Invalidation, Served
from arbiter.cache.keys import Control, Keys, control, keys_for, links_media, uncacheable
from arbiter.cache.live_answer import LiveAnswer
from arbiter.cache.matcher import Matcher, NullMatcher, SemanticMatch, off_loop
from arbiter.cache.replica_sync import ReplicaSync
from arbiter.canonical import CanonicalResponse
from arbiter.config import CacheSettings, TenantSettings
from arbiter.errors import ClientDisconnected
from arbiter.principal import Principal
from arbiter.records import GradeRecord
from arbiter.types import ChatRequest

if TYPE_CHECKING:
    import numpy

    from arbiter.store import Store

Status = Literal["hit", "semantic-hit", "miss", "bypass"]
# a prompt this long is keyed in a worker thread: keys_for serialises and hashes the whole body
# (twice), ~10 ms of the loop at 1 MB of CJK on the dev box (bench/loop_time_by_prompt_size.py)
KEYS_OFF_LOOP_CHARS = 32 * 1024


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
    live: LiveAnswer | None = None  # a stream that joined an identical stream in flight
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
    # the leader's client left before its answer: the first waiter to wake leads a new flight
    # and the rest wait on it (they all went on as misses at once: a herd against the upstream)
    handed_off: bool = False
    # the leader streams an answer identical streams may join (live_follow.joinable); they wait
    # on `changed` (set when its stream opens, `live`, and when it settles)
    stream: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    live: LiveAnswer | None = None


BYPASS = Lookup("bypass")


class ResponseCache(Invalidation, ReplicaSync, CacheStats):
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
        self._served: OrderedDict[str, Served] = OrderedDict()  # hit decision id -> entry
        self._taught: OrderedDict[str, None] = OrderedDict()
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

    def reconfigure(self, settings: CacheSettings) -> None:
        """A reload's `[cache]` numbers (config_reload.py: `enabled`, `semantic` and the
        matcher's `max_false_hit_rate` need a restart): `ttl_s` from the next lookup (a shorter
        one for the entries written already too), lower bounds evict at once."""
        self.settings = settings
        self._bound()

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
        live: bool = False,
    ) -> Lookup:
        """What the cache says about `req`; a failure in here is counted and the request goes on
        uncached (a cache outage never fails a request). `wait`: whether it may wait for an
        identical request in flight (False: it leads one if none is, else goes on as a miss);
        `watch` wraps that wait (the server's: raise ClientDisconnected when the client leaves,
        so a follower whose client is gone is not served, nor recorded as, a hit). `live`: a
        stream that may join an identical stream in flight (live_follow.joinable): it waits for
        that one's stream to open, and is answered by it (`Lookup.live`)."""
        try:
            return await self._lookup(req, principal, wait, watch, live)
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
        live: bool = False,
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
        # two hashes of the whole body: a thread when it is long, by its text or by its media
        if len(req.prompt_text) > KEYS_OFF_LOOP_CHARS or req.big_body:
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
        entry = await self._follow(look, wait, watch, live)
        if look.live is not None:  # a hit whose answer is still coming
            self.counts["coalesced"] += 1
            self.counts["hit"] += 1
            look.status, look.write, look.vector = "hit", False, None
            return look
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
        self,
        look: Lookup,
        wait: bool,
        watch: Callable[[], AbstractContextManager[object]],
        live: bool = False,
    ) -> Entry | None:
        """A miss: lead its exact key's flight (None), or wait for the identical request that
        leads it and return the entry it stored (None when it stored none, or took too long:
        this request goes on as a miss of its own). A `live` stream waits for a streaming
        leader's stream to open and joins it (`look.live`); past its join limit, or when the
        leader failed before its first byte, it goes on as a miss of its own (its own failover,
        not the leader's spent one)."""
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
                and self._fresh(stored, self.clock())
                and self._usable(stored.model)
            ):
                return stored
            look.flight = self._flights[key] = _Flight(
                asyncio.Event(), now + self._wait_s, stream=live
            )
            return None
        if live:
            return await self._join(look, flight, watch) if wait and flight.stream else None
        if not wait:
            return None
        give_up = now + self._wait_s  # this request's own bound, however many leaders it waits on
        while True:
            try:
                async with asyncio.timeout(min(flight.until, give_up) - now):
                    with watch():  # only a follower pays for watching its client
                        await flight.done.wait()
            except TimeoutError:
                return None
            if not flight.handed_off:
                break
            # the leader's client left (nothing stored): lead a new flight, or wait on the one
            # an earlier waiter just took (no await between the look and the take)
            now = time.monotonic()
            nxt = self._flights.get(key)
            if nxt is None or nxt.until <= now:
                look.flight = self._flights[key] = _Flight(asyncio.Event(), now + self._wait_s)
                return None
            flight = nxt
        entry = await self._get(key, look.tenant, self.clock())
        if entry is None or not self._usable(entry.model):
            return None
        return entry

    async def _join(
        self, look: Lookup, flight: _Flight, watch: Callable[[], AbstractContextManager[object]]
    ) -> Entry | None:
        """A stream following a streaming leader: join its answer once its stream opens."""
        assert look.keys is not None
        key = look.keys.exact
        give_up = time.monotonic() + self._wait_s
        while flight.live is None and not flight.done.is_set():
            try:
                async with asyncio.timeout(min(flight.until, give_up) - time.monotonic()):
                    with watch():
                        await flight.changed.wait()
            except TimeoutError:
                return None
        if flight.live is not None:
            if flight.live.joinable:
                look.live = flight.live
            return None
        if flight.handed_off:  # its client left before the first byte: lead, or follow anew
            now = time.monotonic()
            nxt = self._flights.get(key)
            if nxt is None or nxt.until <= now:
                look.flight = self._flights[key] = _Flight(
                    asyncio.Event(), now + self._wait_s, stream=True
                )
                return None
            return await self._join(look, nxt, watch) if nxt.stream else None
        entry = await self._get(key, look.tenant, self.clock())  # a whole answer, stored
        if entry is None or not self._usable(entry.model):
            return None
        return entry

    def open_live(self, look: Lookup | None, live: LiveAnswer) -> bool:
        """The leader's stream opened: the streams waiting on it join `live`. False when no
        stream may join (it leads none, or no stream's flight)."""
        if look is None or look.flight is None or not look.flight.stream:
            return False
        look.flight.live = live
        look.flight.changed.set()
        return True

    def settle(self, look: Lookup | None, *, client_left: bool = False) -> None:
        """The leader's request is over (answered, stored or not, or failed): wake the ones
        waiting on it. `client_left`: its client went before the answer, so one waiter takes
        the lead (the others wait on it); else, with nothing stored, they go on as misses (an
        error or an uncacheable answer would be theirs too: no queue behind each other).
        Idempotent; a no-op for a request that led nothing."""
        if look is None or look.flight is None:
            return
        flight, look.flight = look.flight, None
        flight.handed_off = client_left
        assert look.keys is not None
        if self._flights.get(look.keys.exact) is flight:
            del self._flights[look.keys.exact]
        flight.done.set()
        flight.changed.set()

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
        self._served[decision_id] = Served(
            look.tenant, look.entry.id, kind, look.match, look.entry.task, look.entry.model
        )
        if len(self._served) > SERVED_MEMORY:
            self._served.popitem(last=False)

    def remember(
        self,
        look: Lookup,
        *,
        model: str,
        task: str,
        answer: CanonicalResponse,
        cost_usd: float,
        decision_id: str,
        earlier_usd: float = 0.0,
    ) -> None:
        """Store a complete, successful answer (the caller checked that it is one). Never
        raises: the answer is already on its way to the client. `cost_usd`: the decision's,
        `earlier_usd` of it: the calls before the answering one (Entry.earlier_usd)."""
        try:
            self._remember(look, model, task, answer, cost_usd, decision_id, earlier_usd)
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
        earlier_usd: float = 0.0,
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
            earlier_usd=earlier_usd,
        )  # fmt: skip
        entry.size = footprint(entry)
        if entry.size > self.settings.max_bytes:  # it alone would evict the whole front
            self.counts["too_big"] += 1
            return
        if self._entries.get(entry.id) is not None:
            self._drop(entry.id)  # replaced: the matcher must forget the old vector first
        self._insert(entry, look.vector)
        self.counts["stored"] += 1
        remember_bounded(self._wrote, decision_id, entry.id)
        self._puts += 1
        # the store's LRU bound is applied every 1/16 of max_entries puts (at most that over)
        keep = self.settings.max_entries
        prune = self._puts % max(1, keep // 16) == 0
        write = self._spawn(self._persist(entry, keep if prune else None))
        self._persisting[entry.id] = write
        write.add_done_callback(functools.partial(self._written, entry.id))
