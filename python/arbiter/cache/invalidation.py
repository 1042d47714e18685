"""Taking answers out of the response cache: the admin API's delete and purge, a client's
feedback on a hit (or on the decision that wrote an entry), and the learner's low grades from a
check against what the caller supplied (`graded`, one of its observers). Each removes the entry
here at once and in the store, where the other replicas' syncs apply it."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from arbiter.cache.front import CacheFront, log, remember_bounded
from arbiter.cache.matcher import SemanticMatch, off_loop
from arbiter.records import GradeRecord

# the grades that take an answer out of the cache: a check against what the caller supplied (a
# reference answer, tests run in the sandbox) or the client's word. Not the sampled judge's (an
# LLM's opinion, wrong ~15% of the time by its own model: README) nor the automatic checks',
# whose low grades include an answer cut at the client's own max_tokens (what it asked for)
_EVICTING_GRADERS = frozenset({"feedback", "execution", "reference"})
# how long an admin invalidation waits for the store writes of the entries it removes
_WRITE_WAIT_S = 5.0


@dataclass(slots=True)
class Served:
    """A hit decision: the entry it served, found again by feedback on the decision."""

    tenant: str
    entry_id: str
    kind: Literal["exact", "semantic"]
    match: SemanticMatch | None
    task: str
    model: str


class Invalidation(CacheFront):
    _served: OrderedDict[str, Served]  # hit decision id -> entry
    # the decisions whose answers this replica stored (decision id -> entry id), and those
    # graded wrong before their answer was stored (grading may finish first): graded()
    _wrote: OrderedDict[str, str]
    _graded_low: OrderedDict[str, None]
    _taught: OrderedDict[str, None]  # semantic hit decisions whose feedback taught the bound
    _on_grade: Callable[[GradeRecord], None] | None

    async def invalidate(self, entry_id: str, tenant: str | None = None) -> bool:
        entry = self._entries.get(entry_id)
        if entry is not None and (tenant is None or entry.tenant == tenant):
            self._drop(entry_id)
            self._invalidated_at[entry_id] = self.clock()
            self.counts["invalidated"] += 1
        await self._written_first([self._persisting.get(entry_id)])
        return await asyncio.to_thread(self.store.cache_delete, entry_id, tenant, self.clock())

    async def _written_first(self, writes: list[asyncio.Task[None] | None]) -> None:
        """Wait for the store writes of entries an invalidation removes: the answer went out
        as soon as it was kept in memory and its write runs behind. One landing after the
        store's delete brought the entry back (the next local miss read it through, as did a
        restart and the other replicas); bounded like drain(): a hung store write is its own
        outage, counted there."""
        pending = {w for w in writes if w is not None and not w.done()}
        if pending:
            await asyncio.wait(pending, timeout=_WRITE_WAIT_S)

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
            remember_bounded(self._graded_low, grade.decision_id, None)
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
        await self._written_first(list(self._persisting.values()))
        return await asyncio.to_thread(
            lambda: self.store.cache_purge(tenant=tenant, model=model, ts=now)
        )

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
        taught = decision_id in self._taught  # this hit already taught its tenant's bound
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
            served = Served(
                row["tenant"], info["entry_id"], row["cache_kind"], match, row["task"],
                row["chosen_model"],
            )  # fmt: skip
            taught = taught or row.get("grader") == "feedback"  # on another replica, say
        if tenant is not None and served.tenant != tenant:
            return None  # the caller's learner answers "no such decision"
        wrong = score < 0.5
        removed = await self.invalidate(served.entry_id, served.tenant) if wrong else False
        if served.match is not None and not taught:
            # a hit's first verdict teaches the bound; graded again (or the other way), its
            # grade is overridden but the bound not taught twice: one hit reported wrong ten
            # times took a tenant's scale to its floor, one confirmed 35 times undid a wrong one
            remember_bounded(self._taught, decision_id, None)
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
