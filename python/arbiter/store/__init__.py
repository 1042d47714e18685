"""The durable store: the `Store` protocol both backends implement and `open_store(url)`.

Owns persistence of decisions, grades, alerts and arm statistics. It must not hold routing logic
or be called on the request path directly (the recorder writes; HTTP handlers read via threads).

Write idempotence (`Store.write(records, batch_id=...)`):
  * decisions are upserted by id (re-writing the same record is a no-op);
  * grades are keyed by (decision_id, grader) and keep the one with the latest ts;
  * alerts are inserted once by id;
  * PolicyDelta rows are *added* to the arms table, which is not idempotent by itself, so a
    caller that may retry passes a `batch_id`: the store records it in the same transaction and
    skips the whole batch if that id was already committed. A batch id must name exactly one
    batch content (the recorder keeps a failed batch unchanged until it is written). Without a
    batch id a retried write after an ambiguous failure (commit sent, reply lost) may double
    count its deltas. Batch ids are remembered for `BATCH_ID_TTL_S`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from arbiter.errors import ArbiterError, ConfigError
from arbiter.latency_sums import LatencyRow
from arbiter.records import ArmStats, PolicyDelta, Record
from arbiter.store.arm_resets import ArmResetRow
from arbiter.store.discovered import DiscoveredRow, ListingChanges
from arbiter.store.price_factors import PriceFactorRow
from arbiter.store_url import BadStoreUrl, check_store_url, is_postgres

__all__ = [
    "BATCH_ID_TTL_S",
    "NOT_RECORDED_MESSAGE",
    "STORE_DOWN_MESSAGE",
    "Store",
    "StoreError",
    "open_store",
]

BATCH_ID_TTL_S = 7 * 86400.0


class StoreError(ArbiterError):
    """The store could not be reached or refused the operation (the driver error is the cause).

    `transient` is False when the data itself was refused (constraint or value error): retrying
    the same records cannot succeed, so the recorder isolates and drops them instead.
    """

    status: ClassVar[int] = 503
    code: ClassVar[str] = "store_unavailable"
    type: ClassVar[str] = "server_error"

    def __init__(self, message: str, *, transient: bool = True, for_clients: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        # whether `message` was written for an API client; a store's own words (its URL: user,
        # host, port, database; the driver's text) are not, and server._guard words them anew
        self.for_clients = for_clients


class NoSuchCursor(LookupError):
    """A page's cursor (`after_id`) names no row the caller may read."""


# What a client reads for any other StoreError: the store is down (or refused a write)
STORE_DOWN_MESSAGE = "The store is unavailable; retry the request shortly."
# What a client reads when its decision could not be committed under strict durability: the
# store error's own text (the store's URL, host, port and user; the driver's words) is the log's
NOT_RECORDED_MESSAGE = (
    "The answer could not be recorded (the decision store is unavailable), so it is not "
    "acknowledged. Retry the request."
)


@runtime_checkable
class Store(Protocol):
    url: str  # passwords are redacted
    backend: Literal["sqlite", "postgres"]

    def migrate(self, to: int | None = None) -> int:
        """Apply pending migrations (safe when several processes race); return the version.
        A store it cannot write to (read-only, locked past the busy timeout) is a StoreError.
        `to`: none after that version (a store as an older release left it, for the tests of
        a migration's upgrade path)."""
        ...

    def schema_version(self) -> int:
        """The schema's version, changing nothing: 0 when the store was never migrated."""
        ...

    def write(
        self,
        records: Sequence[Record],
        *,
        batch_id: str | None = None,
        replica: str | None = None,
        logged_at: float | None = None,
    ) -> None:
        """Write `records` in ONE transaction (see the module docstring for idempotence);
        `replica`: the policy sync's, whose arm deltas are logged (store/arm_resets.py) as of
        `logged_at` (the caller's clock: when they were taken; None: now)."""
        ...

    def load_arms(self, tenant: str | None = None) -> list[ArmStats]: ...

    def load_arms_since(self, since: Any) -> tuple[list[ArmStats], Any]:
        """Arms changed since the (opaque) mark a previous call returned (None: all), and the
        next mark."""
        ...

    def arms_page(
        self, tenant: str | None, after: tuple[str, str, str] | None, limit: int
    ) -> list[ArmStats]:
        """The first `limit` arms (or `tenant`'s) after key `after`, in key order (arm_pages.py:
        index-backed)."""
        ...

    def decisions(
        self,
        *,
        tenant: str | None,
        limit: int,
        before_ts: float | None = None,
        after_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, each with its effective `grade`/`grader`. Paging: `after_id` (the last
        row of the previous page; exact even among equal timestamps) or `ts < before_ts`."""
        ...

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        """One decision (same shape as `decisions`) plus `grades`: every grade, best first."""
        ...

    def stats(self, *, tenant: str | None) -> dict[str, Any]:
        """All history: the tenants' own requests (not records.LEARNING_MODES) in requests,
        cost, baseline, savings and the by_model / by_task splits; `learning`: Arbiter's
        learning calls' requests and cost, in all and `by_mode` (shadow, probe, judge)."""
        ...

    def alerts(
        self,
        *,
        tenant: str | None,
        limit: int,
        operator: bool = False,
        after_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first: `tenant`'s (None: every tenant's), and with `operator` the operator's
        own (recorder.SYSTEM_TENANT) too. Paging: `after_id`, the last row of the previous page
        (exact among equal timestamps); one this caller may not read is a NoSuchCursor."""
        ...

    def quality_by_model(self, *, tenant: str | None) -> list[dict[str, Any]]: ...

    def tenants(self) -> list[str]: ...

    def iter_decisions(
        self,
        *,
        since: float,
        tenant: str | None = None,
        page: int = 1000,
        until: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Decisions with since <= ts (< until), oldest first (same shape as `decisions`)."""
        ...

    def timeseries(
        self,
        *,
        tenant: str | None,
        since: float,
        until: float,
        model: str | None = None,
        task: str | None = None,
        bucket_s: int = 60,
    ) -> list[dict[str, Any]]:
        """Per-bucket points from the per-minute rollups (tenants' own requests, as `stats`
        counts them; learning calls are not in these levels): ts, requests, failed, error_rate,
        cost_usd, baseline_cost_usd, savings_usd, mean_grade, graded, mean_latency_ms,
        p50_ms/p95_ms/p99_ms (approximate, from fixed latency buckets). Empty buckets are absent.
        A `bucket_s` that would make more than timeseries_bucket.MAX_POINTS points is widened
        to timeseries_bucket.fitted_bucket()'s width (the points' `ts` are on its grid)."""
        ...

    def learning_timeseries(
        self,
        *,
        tenant: str | None,
        since: float,
        until: float,
        model: str | None = None,
        task: str | None = None,
        bucket_s: int = 60,
    ) -> list[dict[str, Any]]:
        """Arbiter's learning calls (records.LEARNING_MODES) per bucket, on `timeseries`' grid
        for the same arguments: ts, requests, failed, cost_usd and `by_mode` (each mode's
        requests, failed, cost_usd, graded, mean_grade, mean_latency_ms). Buckets without a
        learning call (or its grade) are absent. Migration 0058; store/learning_series.py."""
        ...

    def count_decisions_before(self, ts: float) -> int:
        """How many decisions have ts < `ts` (retention's check that its archive holds them)."""
        ...

    def prune(
        self,
        *,
        rollups_before: float | None = None,
        records_before: float | None = None,
        batch: int = ...,
    ) -> dict[str, int]:
        """Retention: delete rollup minutes / raw records older than the timestamps, `batch`
        rows per transaction (writers never wait on one long DELETE); counts."""
        ...

    # -- client keys and budget windows (store/accounts.py) ---------------------------------
    def create_key(
        self,
        *,
        key_id: str,
        tenant: str,
        name: str,
        secret_hash: str,
        created_ts: float,
        expires_ts: float | None,
    ) -> None: ...

    def get_key(self, key_id: str) -> dict[str, Any] | None: ...

    def list_keys(
        self, tenant: str | None = None, *, limit: int | None = None, after_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Keys in creation order; `limit` of them after the key `after_id` (NoSuchCursor when
        it names no key of `tenant`)."""
        ...

    def revoke_key(self, key_id: str, ts: float) -> bool: ...

    def revoked_among(self, key_ids: Sequence[str]) -> set[str]:
        """Which of `key_ids` are revoked."""
        ...

    def reserve_budget(
        self,
        caps: Sequence[tuple[str, float, float]],
        amount: float,
        owner: str | None = None,
        lease_until: float | None = None,
    ) -> tuple[str, float, float, float] | None:
        """Reserve `amount` under every (scope, window_start, limit), atomically, or none;
        None, or the (scope, window_start, spent, reserved) of the cap it would pass."""
        ...

    def settle_budget(
        self,
        windows: Sequence[tuple[str, float]],
        reserved: float,
        actual: float,
        owner: str | None = None,
    ) -> list[tuple[str, float, float]]: ...

    # -- who holds budget reservations (store/budget_holds.py) ------------------------------
    def open_budget_lease(self, owner: str, expires_ts: float) -> None: ...

    def renew_budget_lease(self, owner: str, expires_ts: float) -> bool: ...

    def sweep_budget_holds(
        self, now: float, owner: str | None = None
    ) -> list[tuple[str, str, float, float]]: ...

    def expired_budget_holds(self, now: float) -> dict[tuple[str, float], float]: ...

    def budget_usage(
        self, scope: str = "", window_starts: Sequence[float] | None = None
    ) -> list[dict[str, Any]]:
        """The spend rows of one scope, exactly ("" every scope's), of `window_starts` only
        when given."""
        ...

    def budget_usage_page(
        self,
        window_starts: Sequence[float],
        after: tuple[float, str] | None,
        limit: int,
        *,
        scopes: Sequence[str] | None = None,
        keys_of: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to `limit` rows of `window_starts` in (window_start, scope) order after `after`;
        `scopes` and/or tenant `keys_of`'s keys' scopes only, when given."""
        ...

    def set_model_override(
        self, model: str, patch: dict[str, Any], ts: float
    ) -> dict[str, Any]: ...

    def model_overrides(self) -> dict[str, dict[str, Any]]: ...

    def set_challenger(
        self, model: str, status: str, tasks: list[str], note: str, ts: float
    ) -> None: ...

    def challengers(self) -> dict[str, dict[str, Any]]: ...

    # -- price factors the change detector adopted (store/price_factors.py) ------------------
    def write_price_factors(self, rows: Iterable[PriceFactorRow]) -> None: ...

    def price_factors(self) -> dict[str, tuple[PriceFactorRow, int]]: ...

    # -- each replica's answer-length regressions (store/length_fits.py) ---------------------
    def write_length_fits(
        self, replica: str, parts: Sequence[tuple[str, dict[str, Any]]], ts: float
    ) -> None: ...

    def load_length_fits(self, since_ts: float = 0.0) -> dict[str, dict[str, Any]]: ...

    # -- a detected quality change's evidence reset, once per change (store/arm_resets.py) ---
    def reset_arms(
        self, rows: Iterable[ArmResetRow], window_s: float, replica: str | None = None
    ) -> int: ...

    # -- the policy sync's queued batches, several per transaction (store/policy_batches.py) --
    def write_batches(
        self,
        batches: Sequence[tuple[str, list[ArmResetRow], list[PolicyDelta], float]],
        window_s: float,
        replica: str,
    ) -> int: ...

    # -- response cache entries (store/cache_entries.py) -----------------------------------
    def cache_put(self, row: Sequence[Any], *, keep: int | None = None) -> None: ...

    def cache_get(self, entry_id: str, tenant: str, now: float) -> tuple[Any, ...] | None: ...

    def cache_since(self, since: float, now: float, limit: int) -> list[tuple[Any, ...]]: ...

    def cache_touch(self, used: Mapping[str, tuple[int, float]]) -> None: ...

    def cache_list(
        self, *, tenant: str | None, limit: int, after_id: str | None = None
    ) -> list[dict[str, Any]]: ...

    def cache_exists(self, entry_id: str) -> bool: ...

    def cache_delete(self, entry_id: str, tenant: str | None, ts: float) -> bool: ...

    def cache_delete_source(self, decision_id: str, ts: float) -> int: ...

    def cache_purge(self, *, tenant: str | None, model: str | None, ts: float) -> int: ...

    def cache_invalidations(self, since: float) -> list[tuple[str, float, Any, Any, Any]]: ...

    def cache_prune(self, *, now: float, keep: int, invalidations_before: float) -> int: ...

    def cache_stats(self, *, tenant: str | None) -> dict[str, Any]: ...

    # -- discovered models (store/discovered.py) ---------------------------------------------
    def claim_discovery(self, upstream: str, holder: str, now: float, ttl_s: float) -> bool: ...

    def release_discovery(self, upstream: str, holder: str) -> None: ...

    def record_listing(
        self, upstream: str, listed: Mapping[str, dict[str, Any]], now: float
    ) -> ListingChanges: ...

    def discovered_models(self) -> list[DiscoveredRow]: ...

    # -- the latency model's per-replica sums (store/latency.py) ------------------------------
    def write_latency(self, rows: Sequence[LatencyRow]) -> None: ...

    def clock_offset(self, clock: Callable[[], float]) -> float:
        """The store's clock less `clock`'s (0: a store without one: SQLite)."""
        ...

    def load_latency(self, since_ts: float = 0.0) -> list[LatencyRow]: ...

    # -- the learnt prompt lines, shared (store/prompt_fits.py, prompt_ratio.py) ------------
    def write_prompt_fits(
        self, replica: str, fits: Sequence[tuple[str, float, float]], ts: float
    ) -> None: ...

    def load_prompt_fits(self, since_ts: float = 0.0) -> dict[str, tuple[float, float]]: ...

    # -- recent reported costs, read at start (store/reported_costs.py, cost_ratio.seed) ----
    def recent_reported_costs(
        self, decisions: int = ...
    ) -> list[tuple[str, float, int, int, float | None]]: ...

    # -- the semantic cache's learned bounds (store/cache_semantic.py) ---------------------
    def semantic_learn(self, tenant: str, factor: float, wrong: bool, ts: float) -> float: ...

    def semantic_scales(self, since: float = 0.0) -> dict[str, float]: ...

    def close(self) -> None: ...


def open_store(url: str, *, migrate_lock_wait_s: float | None = None) -> Store:
    """`sqlite:///rel.db`, `sqlite:////abs/path.db`, `sqlite://:memory:`, `postgresql://...`;
    `migrate_lock_wait_s`: PostgreSQL's wait for another process's migration (its default
    otherwise: `store.migrate_lock_wait_s`)."""
    try:
        check_store_url(url)  # the rules config's check applies too
    except BadStoreUrl as err:
        raise ConfigError(str(err)) from err
    if is_postgres(url):
        from arbiter.store.postgres import PostgresStore

        if migrate_lock_wait_s is None:
            return PostgresStore(url)
        return PostgresStore(url, migrate_lock_wait_s=migrate_lock_wait_s)
    from arbiter.store.sqlite import SqliteStore

    return SqliteStore(url)
