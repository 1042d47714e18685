"""The long-lived objects of one sidecar, made once at start-up and hung off the app.

Construction only wires objects together; the store is read at `start()` (load_state).

No module-level state anywhere else: everything a request needs is reached from `Services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from arbiter import (
    answer_bytes,
    latency_setup,
    log_secrets,
    logs,
    reference,
    tokenizer_load,
    writer_process,
)
from arbiter.after_answer import AfterAnswer
from arbiter.alerts import AlertRules, ChangeEvent
from arbiter.auth import Authenticator
from arbiter.billing_alerts import BillingAlerts
from arbiter.budget import Budgets
from arbiter.cache import Matcher, ResponseCache
from arbiter.canonical import Protocol
from arbiter.cascade import configured_verifier
from arbiter.config import (
    ModelSettings,
    RoutingSettings,
    Settings,
    StoreSettings,
)
from arbiter.config_reload import ConfigReloader
from arbiter.cost_ratio import cost_ratios
from arbiter.decision_lookup import SiblingReads, sibling_wait_s
from arbiter.decision_spool import DecisionSpool
from arbiter.discovery import Discovery
from arbiter.errors import ConfigError
from arbiter.failover import CircuitBreaker
from arbiter.feedback_limit import KeyRate
from arbiter.ids import DecisionIds
from arbiter.judge_calls import judge_caller
from arbiter.key_streams import KeyStreams
from arbiter.latency_setup import make_latency_model
from arbiter.learning import Learner
from arbiter.metrics import Gauges, Metrics
from arbiter.output_length import OutputLength
from arbiter.output_limit import OutputLimits
from arbiter.policy import Policy
from arbiter.principal import Principal
from arbiter.priors import load as load_priors
from arbiter.prompt_ratio import PromptRatios
from arbiter.recorder import Recorder, recorder_pace
from arbiter.records import (
    SYSTEM_TENANT,
    AlertRecord,
    DecisionRecord,
    GradeRecord,
    Record,
)
from arbiter.registry import Registry
from arbiter.routing import Router
from arbiter.routing_types import PoolModel, RouterParams
from arbiter.sandbox.executor import CodeExecutor
from arbiter.shadow import Shadow
from arbiter.state_sync import StateSync
from arbiter.stopping import Stopping
from arbiter.store import NOT_RECORDED_MESSAGE, Store, StoreError, open_store
from arbiter.store.archive import archive_older
from arbiter.store.sqlite import parse_sqlite_url
from arbiter.store_url import is_postgres
from arbiter.strict_commit import StrictCommits
from arbiter.upstream.base import Upstream
from arbiter.upstream_alerts import UpstreamAlerts
from arbiter.upstream_swap import make_provider, retire_providers, swap_providers

log = logging.getLogger(__name__)


class Services:
    def __init__(
        self,
        settings: Settings,
        *,
        seed: int | None = None,
        breaker_clock: Callable[[], float] = time.monotonic,
        budget_clock: Callable[[], float] = time.time,
    ) -> None:
        # `breaker_clock`: what the circuit breaker's cool-downs are timed on (a test drives it);
        # `budget_clock`: the wall clock budget cap windows are cut on (Budgets.now; a test
        # moves it past midnight to roll a daily cap's window over)
        self.settings = settings
        log_secrets.use(settings)  # before anything logs: an upstream may quote its key
        answer_bytes.configure(
            settings.server.max_answer_bytes_in_flight, settings.server.workers
        )  # the key bounds the whole server: each worker process holds its share
        self.started_at = time.time()
        self.metrics = Metrics()
        self.after_answer = AfterAnswer()  # a request's learning, after its answer has left
        self.store: Store = open_store(  # connects lazily: no I/O here
            settings.store.url, migrate_lock_wait_s=settings.store.migrate_lock_wait_s
        )
        self.recorder = Recorder(
            self.store,
            flush_interval_s=settings.store.flush_interval_ms / 1000,
            max_backlog=settings.store.max_backlog,
            on_alert=self._submit,
            writer=writer_process.for_settings(
                settings.store, self.store.url, settings.server.log_format
            ),
            **recorder_pace(settings.store.writer_pace),
            idle_priority=settings.store.writer_priority == "idle",
        )
        self.spool = _spool_for(settings.store)  # strict's failed commits, on disk
        # durability = "strict": bounded
        self.strict_commits = StrictCommits(self.recorder, self.spool)
        # learned state kept in step with the store, and detected changes acted on
        self.state_sync = StateSync(self)
        self.alerts = AlertRules(
            self._submit,
            false_alarms_per_100k=settings.routing.change_false_alarms_per_100k,
            on_change=self._changed,
            price_factor=lambda model: self.registry.price_factor(model),
        )
        self.auth = Authenticator(settings.auth, settings.tenants, self.store)
        self.feedback_rate = KeyRate(lambda: self.settings.auth.feedback_per_minute)
        self.key_streams = KeyStreams()  # the streams of each client key: a revoked key's end
        self.budgets = Budgets(
            settings.budgets,
            self.store,
            lambda tenant, kind, message, data: self.alerts.emit(tenant, kind, message, data=data),
            # cap windows cut on the store's clock (as last read): two replicas minutes apart
            # reserved one call in today's window and the next in tomorrow's around midnight
            wall=lambda: budget_clock() + self.state_sync.offset,
        )
        self._spend_tasks: set[asyncio.Task[None]] = set()
        self.policy = Policy()  # filled from the store by load_state()
        self.priors = load_priors(settings.routing.priors_file)
        self.registry = Registry(settings.models, settings.upstreams, self.priors)
        self._registry_lock = threading.Lock()  # refresh_registry: one store snapshot at a time
        self.pool = self.registry.pool()
        # circuit_open and upstream_config (upstream_alerts.py)
        self.upstream_alerts = UpstreamAlerts(self.alerts, self.registry, lambda: self.settings)
        # the upstreams' billing telemetry not believed: alerted (rate-limited) and counted
        self.billing_alerts = BillingAlerts(self.alerts, self.metrics, self.registry.get)
        # how much longer each model's upstream counts a prompt than o200k: reservations follow
        self.prompt_ratios = PromptRatios()
        # how much more than its usage's price each model's upstream reports: reservations follow
        self.cost_ratios = cost_ratios()
        self.breaker = CircuitBreaker(
            settings.breaker,
            on_open=self.upstream_alerts.circuit_opened,
            on_misconfigured=self.upstream_alerts.misconfigured,
            clock=breaker_clock,
        )
        self.output_limits = self._output_limits()
        if seed is None:  # the caller's seed (tests), else the config's, else a fresh one
            seed = settings.routing.seed
        self._seed = seed if seed is not None else int.from_bytes(__import__("os").urandom(4))
        self._routers: dict[tuple[float | None, str | None], Router] = {}
        self._router_seeds = itertools.count()  # a router made after a reload draws anew
        # expected output tokens per (model, prompt): learned from usage, shared by all routers
        self.lengths = OutputLength(
            settings.routing.expected_output_tokens,
            self.priors.lengths,
            near=settings.latency.length_near_prompts,
            pool_tasks=settings.latency.length_task_prior_pool,
        )
        self.latency = make_latency_model(settings)  # how fast each model answers, shared too
        # the protocols the models speak (discovered models speak their upstream's)
        self.protocols = _protocols(settings)
        # one provider per upstream, chosen by the protocol it speaks
        self.upstreams: dict[str, Upstream] = {
            name: make_provider(up, settings) for name, up in settings.upstreams.items()
        }
        self._gone_upstreams: dict[str, Upstream] = {}  # taken out by a reload (upstream_swap)
        self._gone_protocols: dict[str, Protocol] = {}
        self.difficulty = (
            _load_difficulty(settings.routing.difficulty_model)
            if settings.routing.difficulty
            else None
        )
        self.math_verifier = (
            configured_verifier(settings.routing.cascade_math_verifier_file)
            if settings.routing.cascade_math_verifier > 0
            or "math" in settings.routing.cascade_expected_gain
            else None
        )
        self.new_id = DecisionIds()
        self.sibling_reads = SiblingReads(
            lambda decision_id: self.store.decision(decision_id),
            self.new_id,
            sibling_wait_s(settings.store.flush_interval_ms / 1000),
        )
        # the cascade's in-request judge (cascade_judge.py): grades a first answer, paid, recorded
        # as a cascade_judge decision whose cost the request's own decision holds (each call
        # names its judge: judge_for, the first answer's model under the self-judge)
        judge_model = settings.routing.cascade_judge_model
        self.cascade_judge = (
            judge_caller(self, judge_model, mode="cascade_judge") if judge_model else None
        )
        self.stopping = Stopping()  # set when SIGTERM's graceful wait begins (cli_serve.py)
        self.started = False  # start() is done (probes.py)
        # SIGHUP and POST /arbiter/admin/reload; None unless started from a file (build_app)
        self.reloader: ConfigReloader | None = None

        # code answers run against their tests in a bubblewrap jail (arbiter.sandbox)
        self.executor = CodeExecutor(settings.sandbox)
        references, registered = reference.from_settings(settings.references)
        self.learner = Learner(
            self.router_for_tenant,
            self._submit,
            self.alerts,
            judge_call=judge_caller(self) if settings.routing.judge_model else None,
            judge_sample_rate=settings.routing.judge_sample_rate,
            judge_max_in_flight=settings.routing.judge_max_in_flight,
            lookup=self._lookup_decision,
            executor=self.executor,
            references=references,
            registered_references=registered,
        )
        self.shadow = Shadow(self)  # challengers and their shadow traffic
        self.learner.observers.append(self.shadow.on_grade)
        self.learner.not_for_feedback.append(self.shadow.is_shadow_call)
        self.cache = ResponseCache(
            settings.cache,
            settings.tenants,
            self.store,
            self._cache_matcher(),
            sync_s=settings.store.sync_interval_ms / 1000,
            on_grade=self._submit,
            usable=lambda model: self.registry.get(model) is not None,
            wait_s=settings.failover.deadline_s,
            # entries' ages and expiries are shared: on the store's clock, as every replica
            # reads it (a replica minutes ahead found live entries expired, one behind served
            # expired ones)
            clock=self.state_sync.store_time,
        )
        # an answer graded wrong is not served from the cache any more (ResponseCache.graded)
        self.learner.observers.append(self.cache.graded)
        self.discovery = Discovery(
            dict(settings.upstreams), self.store, self.alerts, self.refresh_registry,
            self.registry.priced, settings.models, served_by=self._served_by,
        )  # fmt: skip
        self._sync_task: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None

    def _served_by(self, name: str) -> str | None:
        """The upstream `name` is routed on now (enabled, listed), else None (discovery's
        `models_gone` wording)."""
        m = self.registry.get(name)
        return None if m is None else m.upstream

    def _cache_matcher(self) -> Matcher | None:
        """The semantic side of the response cache; None (exact cache only) unless
        `cache.semantic` is on."""
        if not (self.settings.cache.semantic and self.cache_wanted()):
            return None
        # >>> SEMANTIC MATCHER PLUG-IN POINT: arbiter.cache.semantic.build_matcher(settings, store)
        # returns the Matcher (arbiter.cache.matcher); until that module exists, exact only.
        try:
            semantic = importlib.import_module("arbiter.cache.semantic")
        except ImportError:
            log.warning("cache.semantic is on but arbiter.cache.semantic is missing: exact only")
            return None
        matcher: Matcher = semantic.build_matcher(self.settings, self.store)
        return matcher
        # <<< SEMANTIC MATCHER PLUG-IN POINT

    def cache_wanted(self) -> bool:
        c = self.settings
        return c.cache.enabled or any(t.cache for t in c.tenants.values())

    # -- wiring helpers used by the pipeline ------------------------------------------------
    # -- state kept in step with the store (state_sync.py) -----------------------------------
    def load_state(self) -> None:
        self.state_sync.load_state()

    def sync_policy(self) -> None:
        self.state_sync.sync_policy()

    def refresh_registry(self) -> None:
        self.state_sync.refresh_registry()

    def _changed(self, event: ChangeEvent) -> None:
        self.state_sync.on_change(event)

    def change_notes(self, models: Iterable[str]) -> str:
        return self.state_sync.change_notes(models)

    @property
    def recent_changes(self) -> dict[str, tuple[float, str]]:
        return self.state_sync.recent_changes

    @property
    def last_sync_rows(self) -> int:
        return self.state_sync.last_sync_rows

    async def apply_settings(self, new: Settings) -> None:
        """A reload's live parts (config_reload.py checked that nothing else differs), swapped
        in one loop step once the registry's lock is had (waited for off the loop): a request
        sees the old config or the new, never a mix. The served address stays the command
        line's. In-flight requests keep their router, caps and pinned prices."""
        # the models' priors (glob matching, most of a reload's CPU) off the loop and the lock
        fresh = await asyncio.to_thread(self.registry.with_priors, new.models)
        await asyncio.to_thread(self._registry_lock.acquire)
        try:
            # the new registry (~23 ms at 1,000 models) worked out in a thread too, under the
            # lock (no sync's refresh in between); the loop serves the old one meanwhile
            plan = await asyncio.to_thread(
                self.registry.plan_reconfigure, new.models, fresh, new.upstreams
            )
            pool = await asyncio.to_thread(plan.pool)
            # from here to the lock's release, no await: one loop step
            self.upstreams, retiring = swap_providers(
                self.upstreams, self._gone_upstreams, self._gone_protocols, self.settings, new
            )
            self.settings = dataclasses.replace(new, server=self.settings.server)
            log_secrets.use(new)  # a rotated key is masked in the log from now on
            # a price factor the loop adopted while the plan was made is kept (priced again)
            stale = self.registry.adopt(plan)
            self.auth.reconfigure(new.tenants, new.auth)
            self.budgets.reconfigure(new.budgets)
            self.discovery.reconfigure(new.models, new.upstreams)
            self.cache.reconfigure(new.cache)
            latency_setup.retune(self.latency, new.latency)
            self._routers.clear()  # made afresh, on the new [routing] and tenants' targets
            self.protocols = _protocols(new)
            self._pool_changed(None if stale else pool)
        finally:
            self._registry_lock.release()
        await retire_providers(retiring)
        if new.budgets.caps:
            tokenizer_load.start()  # every request is counted from now on (as start() does)

    def _pool_changed(self, pool: list[PoolModel] | None = None) -> None:  # pool: the registry's
        shadow = getattr(self, "shadow", None)  # None while __init__ builds the registry
        if shadow is not None:
            shadow.on_pool_changed()  # first: a new challenger must never be routed, even once
        for name in list(self.registry.factors_dropped):
            self.registry.factors_dropped.discard(name)
            self.alerts.forget_price(name)  # re-learn the new price's level from scratch
        self.pool = self.registry.pool() if pool is None else pool
        self.output_limits = self._output_limits()
        logs.note_discovered(self.registry.upstream_of())  # a reload may add or move models
        for router in self._routers.values():
            router.pool = {m.name: m for m in self.pool}

    def _output_limits(self) -> OutputLimits:
        limits = ((m.name, self.registry.get(m.name)) for m in self.pool)
        return OutputLimits((n, m.max_output_tokens) for n, m in limits if m is not None)

    def router_for(self, principal: Principal) -> Router:
        key = (principal.quality_target, principal.baseline)
        router = self._routers.get(key)
        if router is None:
            r = self.settings.routing
            params = RouterParams(
                baseline=principal.baseline or r.baseline,
                quality_target=principal.quality_target or r.quality_target,
                explore=r.explore,
                optimistic=r.optimistic,
                evidence_cap=r.evidence_cap,
                prior_strength=r.prior_strength,
                default_prior=r.default_prior,
                expected_output_tokens=r.expected_output_tokens,
                cost_weight=r.cost_weight,
                max_fallbacks=max(self.settings.failover.max_models - 1, 0),
                latency_quantile=r.latency_quantile,
                latency_late_good_ratio=r.latency_late_good_ratio,
            )
            router = Router(
                self.pool,
                params,
                self.policy,
                seed=self._seed + next(self._router_seeds),
                is_available=self.breaker.available,
                lengths=self.lengths,
                latency=self.latency,
                suspects=self.breaker.suspects,
                reopens_in=self.breaker.reopens_in,
            )
            self._routers[key] = router
        return router

    def router_for_tenant(self, tenant: str) -> Router:
        """The router of a tenant's configured quality target and baseline (for learning)."""
        t = self.settings.tenants.get(tenant)
        if t is None:
            return self.router_for(Principal(tenant))
        return self.router_for(
            Principal(tenant, quality_target=t.quality_target, baseline=t.baseline)
        )

    def baseline_for(
        self, principal: Principal, routing: RoutingSettings | None = None
    ) -> ModelSettings:
        """`routing`: the request's pinned `[routing]` (Plan.routing), when it has one."""
        return self.registry[principal.baseline or (routing or self.settings.routing).baseline]

    def upstream_for(self, model: str) -> Upstream:
        name = self.registry[model].upstream
        try:
            return self.upstreams[name]
        except KeyError:  # a reload took it out: a request holding its model finishes on it
            return self._gone_upstreams[name]

    def protocol_of(self, model: str) -> Protocol:
        """The API `model`'s upstream speaks."""
        name = self.registry[model].upstream
        up = self.settings.upstreams.get(name)
        return up.protocol if up is not None else self._gone_protocols[name]

    async def record(self, decision: DecisionRecord) -> None:
        # counted once the answer has left; written (or committed, strict) before it
        self.after_answer.defer(self.metrics.observe_decision, decision)
        if self.settings.store.durability == "strict":
            try:
                await self.strict_commits.commit([decision])
            except StoreError as err:
                # the client is told it is not acknowledged; the store's words (its URL, the
                # driver's message) are for the operator's log only
                log.warning("strict durability: decision %s not recorded: %s", decision.id, err)
                raise StoreError(NOT_RECORDED_MESSAGE, for_clients=True) from err
        else:
            self.recorder.submit(decision)

    def on_spend(self, plan: Any, cost: float) -> None:
        """Settle the request's budget reservation with its real cost (off the response path)."""
        if not self.budgets.enabled:
            return
        task = asyncio.get_running_loop().create_task(self.budgets.settle(plan.decision_id, cost))
        self._spend_tasks.add(task)
        task.add_done_callback(self._spend_tasks.discard)

    def _submit(self, record: Record) -> None:
        if isinstance(record, GradeRecord):
            self.metrics.observe_grade(record)
        elif isinstance(record, AlertRecord):
            self.metrics.observe_alert(record)
        self.recorder.submit(record)

    @property
    def store_healthy(self) -> bool:
        """The store as /healthz, /metrics and /arbiter/stats report it: reached by the recorder
        and by the budget. The budget gives up on a busy or unreachable store within 2 s and
        fails closed on its allowance, while the recorder's batch may still be waiting out the
        store's 10 s busy timeout: the recorder alone said healthy meanwhile."""
        return self.recorder.store_healthy and not self.budgets.store_down

    def gauges(self) -> Gauges:
        """The live values /metrics shows next to the counters (memory only, no I/O)."""
        return Gauges(
            store_backlog=self.recorder.backlog,
            store_dropped=self.recorder.dropped,
            store_healthy=self.store_healthy,
            circuits_open={m: c["state"] != "closed" for m, c in self.breaker.state().items()},
            after_answer_failed=self.after_answer.failed,
        )

    def latency_ratio(self, model: str, ratio: float) -> None:
        """An answering call's time over what the latency model expected (changepoint.py)."""
        self.alerts.observe_latency(SYSTEM_TENANT, model, ratio)

    async def _lookup_decision(
        self, decision_id: str, tenant: str | None = None
    ) -> dict[str, Any] | None:
        """A decision by id: this process's written first; a sibling's waited for a while
        (decision_lookup.py: feedback or a page reached through another replica or worker);
        with `tenant`, another tenant's decision reads as none."""
        await asyncio.to_thread(self.recorder.flush, 2.0)
        return await self.sibling_reads.read(decision_id, tenant)

    async def start(self) -> None:
        if self.settings.budgets.caps:  # every request is counted: load the tables now, in a
            tokenizer_load.start()  # thread, not awaited (66 MB resident: only when needed;
            # without caps the first long prompt's count starts the load: types.count_tokens)
        await asyncio.to_thread(self.load_state)
        await self.budgets.start()  # its lease, and a sweep of dead processes' holds
        if self.spool is not None:
            await asyncio.to_thread(self.spool.open)
            await asyncio.to_thread(self._replay_spools)  # what killed processes left behind
        self.recorder.start()
        await self.cache.start()
        loop = asyncio.get_running_loop()
        self._sync_task = loop.create_task(self.state_sync.sync_loop())
        self.discovery.start()
        if (
            self.settings.store.retention_days > 0
            or self.settings.store.timeseries_retention_days > 0
        ):
            self._prune_task = loop.create_task(self._prune_loop())
        self.started = True  # store migrated, state and pool loaded: /readyz (probes.py)

    async def stop(self) -> None:
        self.after_answer.drain()  # answers sent, their learning not yet run: before the rest
        await self.discovery.stop()
        for task in (self._sync_task, self._prune_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.learner.drain(5.0)
        await self.cache.stop()
        factors_task = self.state_sync.factors_task
        if factors_task is not None:  # a price factor waiting for the registry's lock
            await asyncio.wait({factors_task}, timeout=5.0)
        if self._spend_tasks:
            await asyncio.wait(set(self._spend_tasks), timeout=5.0)
        # settles queued during a store outage, those of requests cut by the shutdown, then
        # this process's lease and whatever it still holds
        await self.budgets.stop(5.0)
        try:
            await asyncio.to_thread(self.sync_policy)
        except StoreError as err:
            # the store is (or was, a moment ago: its gate still says so) down: the policy's
            # last deltas stay unsent, but the recorder still gets its time to write the
            # backlog (store.shutdown_write_s), and the upstreams and the store are still closed
            log.warning("stopping: the last policy sync failed: %s", err)
        await asyncio.to_thread(self.recorder.stop, self.settings.store.shutdown_write_s)
        if self.spool is not None:  # what the recorder could not write stays for a replay
            await asyncio.to_thread(self.spool.trim, self.recorder.written_upto)
            await asyncio.to_thread(self.spool.close)
        for up in [*self.upstreams.values(), *self._gone_upstreams.values()]:
            await up.aclose()
        self.store.close()

    def _replay_spools(self) -> None:
        """The strict spool's upkeep (blocking): empty this process's file once the recorder
        wrote what it holds; write dead processes' files to the store."""
        assert self.spool is not None
        self.spool.trim(self.recorder.written_upto)
        self.spool.replay_orphans(self.store)

    async def _prune_loop(self) -> None:
        """Retention, applied at start and then every `prune_interval_s` (idempotent DELETEs, so
        several replicas pruning the same store is harmless)."""
        while True:
            try:
                await asyncio.to_thread(self.prune_once)
            except Exception:  # the store may be down: try again next round
                log.warning("retention prune failed; will retry", exc_info=True)
            await asyncio.sleep(self.settings.store.prune_interval_s)

    def prune_once(self, now: float | None = None) -> dict[str, int]:
        """Delete raw records and time-series minutes older than their retention (0 = keep)."""
        s = self.settings.store
        now = time.time() if now is None else now
        records = now - s.retention_days * 86400 if s.retention_days > 0 else None
        rollups = (
            now - s.timeseries_retention_days * 86400 if s.timeseries_retention_days > 0 else None
        )
        if records is None and rollups is None:
            return {}
        if records is not None and s.archive_dir:
            # archived first: if that fails, nothing is deleted (the loop retries next round)
            _, archived = archive_older(self.store, records, Path(s.archive_dir))
            # a decision is written when its request ends, stamped when it began: one that
            # began before the cut and was written while the archive was read is in no archive,
            # and the DELETE would take it. Then no record is deleted this round; the next
            # round's archive holds it (another replica's prune only makes the count smaller)
            if (late := self.store.count_decisions_before(records) - archived) > 0:
                log.warning(
                    "retention: %d decisions before the cut were written while it archived; "
                    "records are pruned next round",
                    late,
                )
                records = None
        deleted = self.store.prune(rollups_before=rollups, records_before=records)
        if any(deleted.values()):
            log.info("retention: deleted %s", deleted)
        return deleted


def _protocols(settings: Settings) -> frozenset[Protocol]:
    """The protocols the models speak (discovered models speak their upstream's)."""
    return frozenset(
        [settings.upstreams[m.upstream].protocol for m in settings.models.values()]
        + [up.protocol for up in settings.upstreams.values() if up.discover]
    )


def _load_difficulty(name: str = "") -> Any:
    try:
        from arbiter import difficulty
    except ImportError:
        return None
    if name:  # asked for by name: a model that does not load is a startup error, not no model
        from arbiter.embedding import EmbedderUnavailable

        try:
            return difficulty.load(name)
        except EmbedderUnavailable as exc:  # a model file of the operator's that reads MiniLM
            raise ConfigError(
                f"routing.difficulty_model {name!r} reads the prompt's MiniLM embedding, and {exc}"
            ) from exc
    return difficulty.load_default()


def _spool_for(settings: StoreSettings) -> DecisionSpool | None:
    """Strict durability's spool (decision_spool.py): `store.spool_dir`, else beside a SQLite
    store's file; none for batched durability, or PostgreSQL / in-memory without a dir."""
    if settings.durability != "strict":
        return None
    if settings.spool_dir:
        return DecisionSpool(Path(settings.spool_dir))
    if is_postgres(settings.url):
        return None
    path = parse_sqlite_url(settings.url)  # None: in memory
    return DecisionSpool(Path(f"{path}.spool")) if path is not None else None
