"""Spend caps per key, per tenant and global: reserve the worst case before a call, settle after.

The promise: concurrent requests, on one replica or several sharing a store, overshoot a cap by at
most one request's worst case. Every upstream call a request makes is covered by a reservation
made BEFORE the call, atomically in the store, in every cap that applies (a `Charge`):

- before the first call: the worst case of one call to the dearest model the request may use
  (`worst_tokens.request_prompt_tokens` counts every content part with a real tokenizer, plus
  n x the output cap), or, where the cap has no room for that, to the model called first (the
  routed one, a cascade's cheap one); a refusal of both is a 429 and no upstream call is made;
- before every further call (a failover retry, the next model, a cascade's escalated call), the
  reservation is topped up so that what is held minus what earlier calls cost still covers one
  more worst case of that model; a refused top-up ends the request with the same 429;
- after each call, its cost is committed: the upstream's usage when it reported one, else the
  call's full worst case (an attempt reset after the body, a 200 with invalid JSON, a stream
  reset before content, an error body cut off, a timeout may all have been billed). Attempts
  the upstream refused outright (429, 4xx), answered with a whole error (a 5xx status and its
  own error body: upstream/error_answer.py) or that never reached it (connection refused)
  commit 0 (the decision's `attempts[].billed` says which);
- the request settles once: the held amount is swapped for the sum of its calls' costs, which is
  also the decision record's `cost_usd`.

So a request's total worst case is (failover.retries_per_model + 1) x the sum, over the first
failover.max_models models of its order, of one call's worst case (plus a cascade's first call),
but it is never reserved all at once: only what the calls made so far may have cost, plus the
next call. Nothing is ever sent upstream that is not covered, so spend passes a cap only through
an upstream billing more than a call's worst case (a model ignoring max_tokens).

Store outages: a settle that fails is queued and retried in the background (in order, never
dropped; its reservation stays held in the store until then, and the spend counts as soon as the
store takes it). While the store is known to be down, requests never wait on it: each replica may
spend a bounded local allowance per cap (`budgets.outage_allowance`, a fraction of the cap's
limit; 0 refuses with a fast 503) that is reconciled (written as spend) once the store is back.
So during an outage a cap can be passed by at most replicas x allowance + one worst case; and
over many (a store that comes and goes), too: a replica's local spend stops where the spend the
store last told it of (a settle's answer, a refusal, a sweep's read), plus what it holds
locally, reaches the cap plus one allowance. Before, each outage gave the whole allowance
again, and a replica whose store kept dropping passed a full cap by one allowance per outage.
A store that goes silent (no error, no answer) is down for a request once one budget statement
has waited store_wait.STORE_WAIT_S; what that statement does later is reconciled.

A process killed hard (kill -9, OOM, power loss) never settles what it held. So each process
is an `owner` with a lease in the store, renewed by the policy sync (`keep_lease`), and every
reservation is also written to its ledger; once a lease has expired (`budgets.lease_s`), any live
process's sweep charges that owner's holds as spent, once (store/budget_holds.py), and raises one
operator alert per owner naming the amount charged unsettled. Charged, not released: the calls
they covered may well have been billed, and released, a crash-looping sidecar passed a cap
without bound; it is a worst case (not every call may have been billed). A process that finds
its own lease gone (it stalled past the lease, or lost the store that long) was swept: it goes on
under a new owner name, and a request whose hold was charged (`Charge.forfeit`) adds at its
settle only what it cost beyond that hold, never less: a stall can overcharge a window by the
unused part of those holds, never undercount it, which is the side a cap must err on. A clean
stop settles every open charge and releases the process's lease and leftover holds (`stop`).

Threshold alerts (e.g. 50/80/100%) go to the alert feed and, if configured, a webhook; a sweep's
charge raises those it crossed too.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import contextvars
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from arbiter import budget_webhook
from arbiter.config import BudgetSettings, CapSettings, ModelSettings
from arbiter.cost_report import vetted
from arbiter.errors import (
    ArbiterError,
    BudgetExceeded,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRedirected,
    UpstreamRejected,
)
from arbiter.principal import Principal
from arbiter.store import Store, StoreError
from arbiter.store_wait import within_wait
from arbiter.types import Usage

log = logging.getLogger(__name__)
_T = TypeVar("_T")


_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def billed_cost(
    model: ModelSettings,
    usage: Usage | None,
    worst: Callable[[], float] | None = None,
    on_dropped: Callable[[str, float, float], None] | None = None,
) -> float | None:
    """What the upstream says a call cost: its own figure (when believable: cost_report.py,
    `worst` the call's worst case, `on_dropped` told of a report not believed), else its usage at
    `model`'s prices (cache reads and writes included); None when it reported neither (the
    caller falls back to the call's worst case, or prices the answer itself), or counted one
    side of the call alone (Usage.one_sided: the other is no 0)."""
    usage = vetted(model, usage, worst, on_dropped)
    if usage is None:
        return None
    if usage.reported_cost_usd is not None:
        return usage.reported_cost_usd
    if usage.one_sided:
        return None
    if usage.prompt_tokens or usage.completion_tokens:
        return model.usage_cost(usage)
    return None


def may_be_billed(err: BaseException) -> bool:
    """Could the upstream have billed a call that ended in `err`? Only a refusal before any work
    (429, a 4xx of the caller's, a 401/403 refusing the operator's key, a redirect: no answer,
    only a pointer elsewhere) or a connection never made says no; a reset after the body, a 200
    with invalid JSON, a stream cut before content, a timeout, a 5xx or a call we abandoned
    (cancelled) may all have been billed in full. An error status whose own error body came
    whole (`UpstreamError.answered`: upstream/error_answer.py) is an answer with no output: a
    5xx the upstream answered so costs nothing, as its 4xx do."""
    if isinstance(err, UpstreamError) and err.answered:
        return False
    if isinstance(
        err, UpstreamRateLimited | UpstreamRejected | UpstreamRedirected | BudgetExceeded
    ):
        return False
    status = err.upstream_status if isinstance(err, UpstreamError) else None
    if status is not None and 400 <= status < 500 and status != 408:
        # a refusal by its status line (the operator's key refused, surfaced as a 503; a 4xx
        # whose error body broke off, a 502): no work done, whatever came after the status
        return False
    # a connection never made: nothing reached the upstream
    return not (isinstance(err, UpstreamError) and isinstance(err.__cause__, _NEVER_SENT))


@dataclass(frozen=True, slots=True)
class BoundCap:
    scope: str  # "global", "tenant:<name>", "key:<id>"
    window_start: float
    window_end: float
    limit_usd: float
    cap: CapSettings


class BudgetStoreDown(ArbiterError):
    """Caps apply but the store is unreachable and this replica's outage allowance is spent."""

    status = 503
    code = "budget_store_unavailable"
    type = "server_error"


@dataclass(slots=True)
class Charge:
    """One request's (or judge call's) spend against its caps.

    `held` is reserved in the store (`local` of it from the outage allowance instead);
    `committed` is what the calls that ended cost (or may have cost)."""

    decision_id: str
    caps: tuple[BoundCap, ...]
    call_worst: Callable[[str], float]  # the worst case of one call to a model
    owner: str = ""  # the process name its store holds are under (new names after a sweep)
    held: float = 0.0
    local: float = 0.0
    forfeit: float = 0.0  # of `held`, what a sweep already charged as spent (its lease lapsed)
    committed: float = 0.0
    calls: int = 0
    settled: bool = False

    def commit(self, cost: float) -> None:
        self.committed += max(cost, 0.0)


@dataclass(slots=True)
class _Unsettled:
    """A settle the store did not take yet: retried in order until it does."""

    windows: list[tuple[str, float]]
    owner: str
    reserved: float  # held in the store (released by the settle)
    actual: float
    local: float  # held from the outage allowance (released locally once written)
    caps: tuple[BoundCap, ...]
    tries: int = 0
    since: float = field(default_factory=time.monotonic)


def _owner_name() -> str:
    """A new name per process start (and per lapsed lease): host, pid and a random part, so an
    operator can tell whose holds a sweep charged."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{os.urandom(4).hex()}"


def window_bounds(window: str, now: float) -> tuple[float, float]:
    if window == "total":
        return 0.0, float("inf")
    if window == "day":
        start = now - now % 86400
        return start, start + 86400
    d = datetime.fromtimestamp(now, tz=UTC)
    start = calendar.timegm((d.year, d.month, 1, 0, 0, 0))
    nxt = calendar.timegm((d.year + d.month // 12, d.month % 12 + 1, 1, 0, 0, 0))
    return float(start), float(nxt)


SHARED_SCOPES = ("global", "shadow")  # caps every tenant's requests count against
_KNOWN_MAX = 10_000  # cap windows whose last read spend is kept (Budgets._saw_spent)


def _describe(b: BoundCap, *, limit: bool = True) -> str:
    kind, _, name = b.scope.partition(":")  # "global", "shadow", "tenant:<name>", ...
    who = f"{kind} '{name}'" if name else kind
    per = {"day": "daily", "month": "monthly", "total": "total"}[b.cap.window]
    return f"{who} {per} cap of {usd(b.limit_usd)}" if limit else f"{who} {per} cap"


def usd(amount: float) -> str:
    """Dollars with cents, and with enough digits to tell a sub-cent amount from zero."""
    if amount == 0 or abs(amount) >= 1 or round(amount, 2) == amount:
        return f"${amount:.2f}"
    text = f"{amount:.6f}".rstrip("0").rstrip(".")
    if float(text) == 0:  # under a millionth of a dollar: "$0." said nothing
        text = f"{amount:.2g}"
    return "$" + text


class Budgets:
    def __init__(
        self,
        settings: BudgetSettings,
        store: Store,
        alert: Callable[[str, str, str, dict[str, object]], None],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._s = settings
        self._store = store
        self._alert = alert
        self._clock = clock
        # what cap windows are cut on (`now()`): the wall clock, or a test's, so a daily or
        # monthly rollover is tested without waiting for midnight or patching time globally
        self._wall = wall
        self._open: dict[str, Charge] = {}
        self._alerted: set[tuple[str, float, str, float]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsettled: deque[_Unsettled] = deque()
        self._retry: asyncio.Task[None] | None = None
        self._down_since: float | None = None  # the store failed a budget call; not yet back
        self._allowance_used: dict[tuple[str, float], float] = {}  # (scope, window) -> usd
        # caps whose allowance refused a request in this outage: /readyz says how many
        self._allowance_spent: set[tuple[str, float]] = set()
        # (scope, window) -> the most spent the store has said it holds (`_saw_spent`)
        self._known_spent: dict[tuple[str, float], float] = {}
        self.owner = _owner_name()
        self._leased = False  # the store has this owner's lease
        self._lease_due = 0.0  # time.time() of the next renewal and sweep

    def reconfigure(self, settings: BudgetSettings) -> None:
        """A reloaded config's [budgets]: requests from here on are held to its caps; a charge
        already made keeps the caps it reserved against (Charge.caps)."""
        self._s = settings

    @property
    def enabled(self) -> bool:
        return bool(self._s.caps)

    def now(self) -> float:
        """The time cap windows are cut on: which day's or month's window a request opens in
        (`caps_for(principal, budgets.now())`); leases stay on the real clock (other processes
        read them)."""
        return self._wall()

    @property
    def output_cap(self) -> int:
        return self._s.default_max_output_tokens

    @property
    def image_tokens(self) -> int | None:
        return self._s.image_tokens

    @property
    def store_down(self) -> bool:
        return self._down_since is not None

    @property
    def allowance_spent(self) -> int:
        """Caps whose outage allowance has refused a request since the store went down (0 once
        it is back): their requests get a fast 503 while others are answered."""
        return len(self._allowance_spent)

    @property
    def unsettled(self) -> int:
        """Settles waiting for the store (each is retried until written)."""
        return len(self._unsettled)

    def caps_for(self, principal: Principal, now: float) -> tuple[BoundCap, ...]:
        """The caps binding `principal`'s requests, one per (scope, window): caps that bind the
        same window of one scope (a cap written twice; a tenant's own beside the every-tenant
        one) share its one spend row in the store, so it is reserved and settled once, at the
        stricter limit (counted once per cap, a request's spend counted double there)."""
        out: dict[tuple[str, float], BoundCap] = {}
        for cap in self._s.caps:
            if cap.scope == "global":
                scope = "global"
            elif cap.scope == "tenant" and cap.name in ("*", principal.tenant):
                scope = f"tenant:{principal.tenant}"
            elif cap.scope == "key" and principal.key_id and cap.name in ("*", principal.key_id):
                scope = f"key:{principal.key_id}"
            else:
                continue
            start, end = window_bounds(cap.window, now)
            seen = out.get((scope, start))
            if seen is None or cap.limit_usd < seen.limit_usd:
                out[(scope, start)] = BoundCap(scope, start, end, cap.limit_usd, cap)
        return tuple(out.values())

    def judge_caps(self, tenant: str, now: float) -> tuple[BoundCap, ...]:
        """The caps an LLM judge call grading `tenant`'s answer is charged to
        (`budgets.judge_scope`): the tenant's and the global ones, only the global ones, or none."""
        scope = self._s.judge_scope
        if scope == "none" or not self.enabled:
            return ()
        caps = self.caps_for(Principal(tenant=tenant), now)
        return tuple(c for c in caps if scope == "tenant" or c.scope == "global")

    # -- a request's charge -------------------------------------------------------------------
    async def open(
        self,
        decision_id: str,
        caps: tuple[BoundCap, ...],
        call_worst: Callable[[str], float],
        first_calls: Sequence[str],
    ) -> Charge:
        """Reserve one worst-case call to the dearest of `first_calls` (or raise BudgetExceeded /
        BudgetStoreDown); the first of them is the call made first. A cap with no room for
        the dearest holds that first call's worst case instead: a tenant near its cap on
        `auto` was refused while the routed model fitted (and the same request named to it was
        served); a failover or escalation past that hold then tops it up only where the cap
        allows (`before_call`). Without caps, the charge only tallies what the calls cost."""
        charge = Charge(decision_id, caps, call_worst, self.owner)
        if caps:
            dearest = max((call_worst(m) for m in first_calls), default=0.0)
            try:
                await self._hold(charge, dearest)
            except BudgetExceeded:
                least = call_worst(first_calls[0]) if first_calls else dearest
                if not least < dearest:
                    raise
                await self._hold(charge, least)
            self._open[decision_id] = charge
        return charge

    async def call(self, charge: Charge, model: str, send: Callable[[], Awaitable[_T]]) -> _T:
        """One upstream call under `charge`: covered before it is made (or BudgetExceeded);
        when it fails in a way the upstream may have billed, its worst case is committed."""
        await self.before_call(charge, model)
        try:
            return await send()
        except BaseException as err:  # cancelled too: an abandoned call may still be billed
            if may_be_billed(err):
                charge.commit(charge.call_worst(model))
            raise

    async def before_call(self, charge: Charge, model: str) -> None:
        """Make sure what is held still covers one more worst-case call to `model`."""
        charge.calls += 1
        if not charge.caps or charge.settled:
            return
        short = charge.call_worst(model) - (charge.held - charge.committed)
        if short > 1e-12:
            await self._hold(charge, short)

    async def _hold(self, charge: Charge, amount: float) -> None:
        caps = charge.caps
        if self._down_since is None:
            rows = [(c.scope, c.window_start, c.limit_usd) for c in caps]
            owner = charge.owner
            # start-up could not reach the store: the lease is taken with the first reservation
            lease = None if self._leased else time.time() + self._s.lease_s
            work = asyncio.ensure_future(
                asyncio.to_thread(self._store.reserve_budget, rows, amount, owner, lease)
            )
            try:  # bounded: a silent store must not hold the request (store_wait.py)
                over = await within_wait(work, "budget reservation")
            except asyncio.CancelledError:
                # the request was cancelled meanwhile (its client left while a locked budget
                # row held the top-up of a retry or an escalation): the statement runs on in
                # its thread, and what it reserves is nobody's; released once it lands, or it
                # stayed reserved until this process stopped (probe18m)
                job = _Unsettled([(c.scope, c.window_start) for c in caps], owner, amount,
                                 0.0, 0.0, caps)  # fmt: skip
                work.add_done_callback(lambda done: self._late_reservation(done, job))
                raise
            except StoreError as err:
                self._store_failed(err)
                if not work.done():  # still running: a reservation it makes is nobody's
                    job = _Unsettled([(c.scope, c.window_start) for c in caps], owner, amount,
                                     0.0, 0.0, caps)  # fmt: skip
                    work.add_done_callback(lambda done: self._late_reservation(done, job))
            else:
                if over is not None:
                    raise self._refusal(caps, over, amount)
                self._leased = self._leased or lease is not None
                charge.held += amount
                if charge.owner != owner:  # renamed meanwhile: the old name's holds are swept
                    charge.forfeit += amount
                return
        self._hold_locally(charge, amount)

    def _hold_locally(self, charge: Charge, amount: float) -> None:
        """The store is down: spend from this replica's bounded allowance, or fail fast."""
        for c in charge.caps:
            key = (c.scope, c.window_start)
            used = self._allowance_used.get(key, 0.0)
            allowance = self._s.outage_allowance * c.limit_usd
            # the store's spend as last read, past the cap: that much of the allowance is gone
            # (spent in an earlier outage, reconciled since), or the next outage gives it again
            room = min(allowance, c.limit_usd + allowance - self._known_spent.get(key, 0.0))
            if used + amount > room + 1e-12:
                self._allowance_spent.add(key)
                shared = c.scope in SHARED_SCOPES  # its figures total every tenant's spend
                figures = "" if shared else f" ({usd(used)} of {usd(max(room, 0.0))})"
                raise BudgetStoreDown(
                    f"The budget store is unreachable and this replica's outage allowance for "
                    f"the {_describe(c, limit=not shared)} is spent{figures}; retry shortly."
                )
        self._use_allowance(charge.caps, amount)
        charge.held += amount
        charge.local += amount

    def _use_allowance(self, caps: tuple[BoundCap, ...], delta: float) -> None:
        for c in caps:
            key = (c.scope, c.window_start)
            left = self._allowance_used.get(key, 0.0) + delta
            if left > 1e-12:
                self._allowance_used[key] = left
            else:
                self._allowance_used.pop(key, None)

    def _refusal(
        self, caps: tuple[BoundCap, ...], over: tuple[str, float, float, float], amount: float
    ) -> BudgetExceeded:
        scope, window, spent, reserved = over
        self._saw_spent(scope, window, spent)
        # the cap of that window: a scope may have a day cap and a month cap (caps_for binds
        # one per window), and only the one passed says when it resets and if a retry can pass
        bound = next(c for c in caps if c.scope == scope and c.window_start == window)
        resets = (
            "never resets"
            if bound.window_end == float("inf")
            else "resets at " + datetime.fromtimestamp(bound.window_end, tz=UTC).isoformat()
        )
        if scope in SHARED_SCOPES:
            # every tenant's spend and requests in flight: the operator's to see (as
            # /arbiter/budgets hides these rows from a client key), never a tenant's 429, where
            # repeated refusals would show the other tenants' spend and traffic
            said = f"the {_describe(bound, limit=False)}, shared by every tenant, would be passed"
        else:
            said = (
                f"the {_describe(bound)} would be passed (spent ${spent:.4f}, ${reserved:.4f} "
                f"reserved by requests in flight, this request may cost up to ${amount:.4f} more)"
            )
        err = BudgetExceeded(
            f"Budget exceeded: {said}; it {resets}.",
            scope=scope,
            limit_usd=bound.limit_usd,
            window=bound.cap.window,
        )
        err.retryable = spent + amount <= bound.limit_usd
        if bound.window_end != float("inf"):
            err.resets_at = bound.window_end
            err.resets_in_s = bound.window_end - self.now()  # the clock the window was cut on
        return err

    async def settle(self, decision_id: str, actual: float) -> None:
        """Swap the request's held amount for its real cost (`actual`: every call included)."""
        charge = self._open.pop(decision_id, None)
        if charge is None or charge.settled:
            return
        charge.settled = True
        # the allowance keeps only the local share of the real spend until the store has it
        kept = actual * charge.local / charge.held if charge.held > 0 else 0.0
        if charge.local > 0:
            self._use_allowance(charge.caps, kept - charge.local)
        job = _Unsettled(
            [(c.scope, c.window_start) for c in charge.caps],
            charge.owner,
            charge.held - charge.local - charge.forfeit,
            # a sweep charged `forfeit` as spent already: only the cost beyond it is new, and
            # never less (a stalled process's unused hold stays charged: the conservative side)
            max(actual - charge.forfeit, 0.0),
            kept,
            charge.caps,
        )
        if self._down_since is not None or self._unsettled:
            self._queue(job)  # in order behind the others; the retry loop writes it
            return
        work = asyncio.ensure_future(self._write(job))
        try:
            await within_wait(work, "budget settle")
        except StoreError as err:
            self._store_failed(err)
            if work.done():
                self._queue(job)
            else:  # still running: queued only if it fails (written twice it would count twice)
                work.add_done_callback(lambda done: self._late_settle(done, job))

    def _late_reservation(self, done: asyncio.Future[Any], job: _Unsettled) -> None:
        """A reservation that answered after its request had gone on from the allowance: what
        it holds in the store is released (a settle of 0), or it would stay held until this
        process stops."""
        if done.cancelled() or done.exception() is not None or done.result() is not None:
            return  # failed or refused: nothing is held
        self._queue(job)

    def _late_settle(self, done: asyncio.Future[None], job: _Unsettled) -> None:
        if done.cancelled() or done.exception() is not None:
            self._queue(job)  # not written: the retry loop writes it

    async def release(self, decision_id: str) -> None:
        """The request ended without recording (it failed before any upstream call, or in one):
        settle what its calls committed."""
        charge = self._open.get(decision_id)
        await self.settle(decision_id, charge.committed if charge else 0.0)

    async def _write(self, job: _Unsettled) -> None:
        after = await asyncio.to_thread(
            self._store.settle_budget, job.windows, job.reserved, job.actual, job.owner
        )
        self._use_allowance(job.caps, -job.local)  # the store has this spend now
        for (scope, start, spent), bound in zip(after, job.caps, strict=True):
            self._thresholds(bound, scope, start, spent)

    def _store_failed(self, err: StoreError) -> None:
        if self._down_since is None:
            self._down_since = self._clock()
            log.warning("budget store unreachable (%s): using the outage allowance", err)
        self._start_retry()

    def _queue(self, job: _Unsettled) -> None:
        self._unsettled.append(job)
        self._start_retry()

    def _start_retry(self) -> None:
        if self._retry is None or self._retry.done():
            # in a context of its own: the loop serves every queued settle, not the request
            # whose settle started it (whose id its log lines would carry: logs.RequestIdOf)
            self._retry = asyncio.get_running_loop().create_task(
                self._retry_loop(), context=contextvars.Context()
            )

    async def _retry_loop(self, first_s: float = 0.2, max_s: float = 1.0) -> None:
        """Write queued settles in order until none is left and the store answers; this loop is
        the only thing that probes a store known to be down (requests never wait on it)."""
        pause = first_s
        while self._unsettled or self._down_since is not None:
            await asyncio.sleep(pause)
            try:
                while self._unsettled:
                    job = self._unsettled[0]
                    job.tries += 1
                    await self._write(job)
                    self._unsettled.popleft()
                if self._down_since is not None:  # nothing queued: probe with a cheap read
                    await asyncio.to_thread(self._store.budget_usage, "global")
            except StoreError as err:
                if not err.transient and self._unsettled:  # the data itself was refused
                    self._unsettled.popleft()
                    log.error("budget settle refused by the store; dropped: %s", err)
                pause = min(pause * 2, max_s)
                continue
            except Exception:  # never let the loop die with settles queued
                log.exception("budget settle retry crashed; retrying")
                pause = min(pause * 2, max_s)
                continue
            if self._down_since is not None:
                log.warning(
                    "budget store back after %.1fs; queued settles written",
                    self._clock() - self._down_since,
                )
            self._down_since = None
            self._allowance_spent.clear()
            pause = first_s

    # -- this process's lease on its holds ----------------------------------------------------
    def _open_lease(self) -> None:
        self._store.open_budget_lease(self.owner, time.time() + self._s.lease_s)
        self._leased = True

    async def start(self) -> None:
        """Take this process's lease and charge what dead processes still hold (start-up)."""
        if self.enabled:
            await self.keep_lease()

    async def keep_lease(self) -> None:
        """Renew the lease and sweep expired owners' holds, every third of `budgets.lease_s`
        (called by the policy sync loop, every sync). The store may be down: the next call
        tries again, and the lease outlives two missed renewals."""
        now = time.time()
        if not self.enabled or now < self._lease_due:
            return
        try:
            if await asyncio.to_thread(self._lapsed):
                self._renamed()  # on the loop: open charges are the loop's
                await asyncio.to_thread(self._open_lease)
            charged = await asyncio.to_thread(self._store.sweep_budget_holds, time.time())
        except StoreError as err:
            log.info("budget lease: store unreachable (%s); retrying next sync", err)
            return
        self._lease_due = now + self._s.lease_s / 3
        self._charged_alerts(charged)
        if any(amount > 0 for *_, amount in charged):
            await self._thresholds_after_sweep(charged)

    async def _thresholds_after_sweep(self, charged: list[tuple[str, str, float, float]]) -> None:
        """The threshold alerts a sweep's charge crossed (a settle would have raised them): of
        the windows it charged, those this process's caps describe."""
        keys = sorted({(scope, window) for _, scope, window, amount in charged if amount > 0})
        bounds = [b for scope, window in keys if (b := self._bound_for(scope, window))]
        try:
            spent = await asyncio.to_thread(self._spent_in, bounds)
        except StoreError as err:
            log.info("budget: could not read spend after a sweep (%s)", err)
            return
        for bound, usd_spent in zip(bounds, spent, strict=True):
            self._thresholds(bound, bound.scope, bound.window_start, usd_spent)

    def _bound_for(self, scope: str, window_start: float) -> BoundCap | None:
        """The configured cap of one stored window (the stricter of two sharing it, as
        `caps_for` binds them), or None when no cap of this process's config describes it."""
        kind, _, name = scope.partition(":")
        best: BoundCap | None = None
        for cap in self._s.caps:
            if cap.scope != kind or (name and cap.name not in ("*", name)):
                continue
            start, end = window_bounds(cap.window, window_start)
            if start == window_start and (best is None or cap.limit_usd < best.limit_usd):
                best = BoundCap(scope, start, end, cap.limit_usd, cap)
        return best

    def _spent_in(self, bounds: list[BoundCap]) -> list[float]:
        out = []
        for b in bounds:
            rows = self._store.budget_usage(b.scope, [b.window_start])
            out.append(float(rows[0]["spent_usd"]) if rows else 0.0)
        return out

    def _charged_alerts(self, charged: list[tuple[str, str, float, float]]) -> None:
        """One log line and one operator alert per swept owner, naming what was charged."""
        per_owner: dict[str, dict[str, float]] = {}
        for owner, scope, window, amount in charged:
            if amount > 0:
                windows = per_owner.setdefault(owner, {})
                key = f"{scope}@{window:.0f}"
                windows[key] = windows.get(key, 0.0) + amount
        for owner, windows in sorted(per_owner.items()):
            # each window holds the same requests' money: the largest is what the owner held
            amount = max(windows.values())
            message = (
                f"budget: {usd(amount)} held by stopped process {owner} charged as spent "
                f"unsettled (a worst case: its calls may not all have been billed) in "
                f"{len(windows)} cap window(s)"
            )
            log.warning("%s: %s", message, windows)
            data: dict[str, object] = {"owner": owner, "charged_usd": amount, "windows": windows}
            self._alert("_system", "budget_hold_charged", message, data)
            if self._s.webhook_url:
                task = asyncio.get_running_loop().create_task(
                    self._webhook({"kind": "budget_hold_charged", "message": message, **data})
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _lapsed(self) -> bool:
        """Renew the lease (take it if never taken); True when a sweep had taken it away."""
        if not self._leased:
            self._open_lease()
            return False
        return not self._store.renew_budget_lease(self.owner, time.time() + self._s.lease_s)

    def _renamed(self) -> None:
        """Our lease was found expired and our holds charged by a sweep: go on under a new
        name, and let no open charge release, or count again, what the sweep already charged."""
        old, self.owner = self.owner, _owner_name()
        log.warning("budget lease of %s lapsed and was swept; now %s", old, self.owner)
        for charge in list(self._open.values()):
            if charge.owner == old:
                charge.forfeit = charge.held - charge.local
                charge.owner = self.owner

    async def stop(self, timeout_s: float) -> None:
        """A clean stop: settle every charge still open (its request was cancelled mid-call:
        that call may have been billed in full, so what is held counts as spent; a request
        that never called counts nothing), write queued settles, then release this process's
        lease and whatever it still holds, so nothing stays reserved for it."""
        for decision_id, charge in list(self._open.items()):
            await self.settle(decision_id, charge.held if charge.calls else charge.committed)
        await self.drain(timeout_s)
        if not self.enabled or not self._leased:
            return
        try:
            await asyncio.to_thread(self._store.sweep_budget_holds, time.time(), self.owner)
            self._leased = False
        except StoreError as err:  # its lease then expires and another process's sweep does it
            log.warning("budget: could not release this process's holds at stop: %s", err)

    async def drain(self, timeout_s: float) -> int:
        """Give queued settles up to `timeout_s` to be written (shutdown); returns those left."""
        if self._retry is not None and not self._retry.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._retry), timeout_s)
        if self._unsettled:
            log.error(
                "budget: %d settles could not be written before shutdown (%s)",
                len(self._unsettled),
                usd(sum(j.actual for j in self._unsettled)),
            )
        return len(self._unsettled)

    def _saw_spent(self, scope: str, start: float, spent: float) -> None:
        """The store said the window's spend is `spent` (it only grows): what bounds this
        replica's local spend in a later outage (`_hold_locally`)."""
        key = (scope, start)
        if key not in self._known_spent and len(self._known_spent) >= _KNOWN_MAX:
            self._known_spent.clear()  # (old windows; a cleared one is read again next settle)
        self._known_spent[key] = max(self._known_spent.get(key, 0.0), spent)

    def _thresholds(self, bound: BoundCap, scope: str, start: float, spent: float) -> None:
        self._saw_spent(scope, start, spent)
        if bound.limit_usd <= 0:
            return
        for t in sorted(self._s.alert_thresholds):
            # the window's kind too: a month's first day and the month start at the same second
            key = (scope, start, bound.cap.window, t)
            if spent >= t * bound.limit_usd and key not in self._alerted:
                self._alerted.add(key)
                message = f"{_describe(bound)}: {spent / bound.limit_usd:.0%} spent (${spent:.4f})"
                data: dict[str, object] = {
                    "scope": scope,
                    "threshold": t,
                    "spent_usd": spent,
                    "limit_usd": bound.limit_usd,
                    "window": bound.cap.window,
                }
                tenant = scope.split(":", 1)[1] if scope.startswith("tenant:") else "_system"
                self._alert(tenant, "budget_threshold", message, data)
                if self._s.webhook_url:
                    task = asyncio.get_running_loop().create_task(
                        self._webhook({"kind": "budget_threshold", "message": message, **data})
                    )
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _webhook(self, payload: dict[str, object]) -> None:
        assert self._s.webhook_url is not None
        await budget_webhook.post(self._s.webhook_url, payload)
