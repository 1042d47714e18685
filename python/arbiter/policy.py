"""The learned policy: per (tenant, task, model) evidence of good and bad answers, and each arm's
per-prompt slope.

Owns the in-memory arm statistics the router reads on every request (no I/O there) and the
additive deltas exchanged with the store, so several replicas merge by summing (never overwrite;
the one exception, a detected quality change's reset, is set once per change: store/arm_resets.py).
Every router of a sidecar (one per quality target and baseline) reads and teaches this one
object, so a tenant with its own target learns from the same grades, on every replica.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from arbiter.records import ArmStats, PolicyDelta
from arbiter.store.arm_resets import ArmResetRow

ArmKey = tuple[str, str, str]  # (tenant, task, model)
_MAX_CHANGES = 4096  # per (tenant, task) change log length before readers rebuild instead


@dataclass(slots=True)
class _Evidence:
    alpha: float = 0.0
    beta: float = 0.0
    n: float = 0.0
    slope_mean: float = 0.0  # offsets of the slope's posterior from its prior
    slope_precision: float = 0.0
    slope_center: float = 0.0
    slope_seen: float = 0.0
    slope_center0: float | None = None

    def add(self, d: _Evidence) -> None:
        self.alpha += d.alpha
        self.beta += d.beta
        self.n += d.n
        self.slope_mean += d.slope_mean
        self.slope_precision += d.slope_precision
        self.slope_center += d.slope_center
        self.slope_seen += d.slope_seen
        if self.slope_center0 is None:
            self.slope_center0 = d.slope_center0


@dataclass(frozen=True, slots=True)
class SlopeOffsets:
    """An arm's learned slope state relative to its prior (see routing.PromptModel)."""

    center0: float
    mean: float
    precision: float
    center: float
    seen: float


class Policy:
    """Arm evidence = what the store had at the last sync + local deltas not yet pushed."""

    def __init__(self) -> None:
        self._synced: dict[ArmKey, _Evidence] = {}
        self._pending: dict[ArmKey, _Evidence] = {}
        # quality-change resets not yet written: arm -> (direction, alpha, beta, n) it had
        # written since the change, (started, detected) on the store's clock, the mean grades
        # (before, after) it (store/arm_resets.py applies one per change)
        self._resets: dict[ArmKey, tuple[str, float, float, float, float, float, float, float]] = {}
        self._lock = threading.Lock()  # the sync thread swaps maps; request path only reads/adds
        # change tracking for routers' per-(tenant, task) arrays (routing.ArmTable): `epoch`
        # moves when every arm may have changed (a full adopt), `changes[(tenant, task)]` lists
        # the models whose evidence or slope moved since, in order; a reader keeps its place
        self.epoch = 0
        self.changes: dict[tuple[str, str], list[str]] = {}

    def evidence(self, key: ArmKey) -> tuple[float, float, float]:
        s, p = self._synced.get(key), self._pending.get(key)
        a = (s.alpha if s else 0.0) + (p.alpha if p else 0.0)
        b = (s.beta if s else 0.0) + (p.beta if p else 0.0)
        n = (s.n if s else 0.0) + (p.n if p else 0.0)
        # never below no evidence at all (a reset of an older release was an additive delta)
        return max(a, 0.0), max(b, 0.0), max(n, 0.0)

    def slope(self, key: ArmKey) -> SlopeOffsets | None:
        """The arm's slope offsets, or None before any replica taught it a graded prompt."""
        s, p = self._synced.get(key), self._pending.get(key)
        center0 = s.slope_center0 if s is not None else None
        if center0 is None:
            center0 = p.slope_center0 if p is not None else None
        if center0 is None:
            return None
        return SlopeOffsets(
            center0,
            (s.slope_mean if s else 0.0) + (p.slope_mean if p else 0.0),
            (s.slope_precision if s else 0.0) + (p.slope_precision if p else 0.0),
            (s.slope_center if s else 0.0) + (p.slope_center if p else 0.0),
            (s.slope_seen if s else 0.0) + (p.slope_seen if p else 0.0),
        )

    def add(self, key: ArmKey, d_alpha: float, d_beta: float, d_n: float) -> None:
        with self._lock:
            ev = self._pending.setdefault(key, _Evidence())
            ev.alpha += d_alpha
            ev.beta += d_beta
            ev.n += d_n
            self._changed(key)

    def reset(
        self,
        key: ArmKey,
        direction: str,
        alpha: float,
        beta: float,
        n: float,
        started: float = 0.0,
        detected: float = 0.0,
        levels: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """The arm's evidence becomes (alpha, beta, n), the grades since a detected change:
        here at once; in the store by `take_batch`'s reset, which sets the arm's sums (never
        adds to them) once per change, whichever replica writes it first, plus what the other
        replicas wrote since the change `started` (store clock). The unsent grades (up to the
        reset's counts) stay a delta, written after it."""
        with self._lock:
            p = self._pending.setdefault(key, _Evidence())
            p.alpha = min(max(p.alpha, 0.0), alpha)
            p.beta = min(max(p.beta, 0.0), beta)
            p.n = min(max(p.n, 0.0), n)
            s = self._synced.setdefault(key, _Evidence())
            s.alpha, s.beta, s.n = alpha - p.alpha, beta - p.beta, n - p.n
            self._resets[key] = (direction, s.alpha, s.beta, s.n, started, detected, *levels)
            self._changed(key)

    def _changed(self, key: ArmKey) -> None:
        log = self.changes.setdefault((key[0], key[1]), [])
        if len(log) >= _MAX_CHANGES:  # readers that far behind rebuild their arrays
            self.changes.clear()
            self.epoch += 1
        else:
            log.append(key[2])

    def add_slope(
        self,
        key: ArmKey,
        center0: float,
        d_mean: float,
        d_precision: float,
        d_center: float,
        d_seen: float,
    ) -> None:
        """Add to the arm's slope offsets; `center0` counts only if no start was known yet."""
        with self._lock:
            ev = self._pending.setdefault(key, _Evidence())
            ev.add(_Evidence(0.0, 0.0, 0.0, d_mean, d_precision, d_center, d_seen, center0))
            self._changed(key)

    def take_deltas(self) -> list[PolicyDelta]:
        """Hand over the local deltas to be written; they stay counted until `replace_synced`."""
        with self._lock:
            taken = self._take_pending()
        return _deltas(taken)

    def take_batch(self) -> tuple[list[ArmResetRow], list[PolicyDelta]]:
        """The resets and the deltas to write, resets first: taken together, so a grade
        counted in a reset's sums is never written before it (the reset would drop it)."""
        with self._lock:
            resets, self._resets = self._resets, {}
            taken = self._take_pending()
        return [(*key, *r) for key, r in sorted(resets.items())], _deltas(taken)

    def _take_pending(self) -> dict[ArmKey, _Evidence]:
        taken, self._pending = self._pending, {}
        for key, ev in taken.items():  # keep them visible until the store confirms
            self._synced.setdefault(key, _Evidence()).add(ev)
        return taken

    def replace_synced(self, arms: Iterable[ArmStats]) -> None:
        """Adopt the store's totals (which include every replica's pushed deltas)."""
        fresh = {
            (a.tenant, a.task, a.model): _Evidence(
                a.alpha,
                a.beta,
                a.n,
                a.slope_mean,
                a.slope_precision,
                a.slope_center,
                a.slope_seen,
                a.slope_center0,
            )
            for a in arms
        }
        with self._lock:
            self._synced = fresh
            self.changes = {}
            self.epoch += 1

    def apply_synced(self, arms: Iterable[ArmStats]) -> int:
        """Adopt the store's totals for the arms that changed since the last sync (the rest
        stand); returns how many rows were adopted."""
        fresh = [
            (
                (a.tenant, a.task, a.model),
                _Evidence(
                    a.alpha, a.beta, a.n, a.slope_mean, a.slope_precision, a.slope_center,
                    a.slope_seen, a.slope_center0,
                ),
            )
            for a in arms
        ]  # fmt: skip
        with self._lock:
            for key, ev in fresh:
                self._synced[key] = ev
                self._changed(key)
        return len(fresh)

    def snapshot(self, tenant: str | None = None) -> list[ArmStats]:
        """Every arm (or `tenant`'s) with its evidence, in key order. Safe off the event loop:
        the keys are taken under the lock the sync thread swaps the maps under."""
        with self._lock:
            keys = set(self._synced) | set(self._pending)
        if tenant is not None:  # before the sort and the sums: one tenant's few arms
            keys = {k for k in keys if k[0] == tenant}
        return [ArmStats(*k, *self.evidence(k)) for k in sorted(keys)]

    def page(self, tenant: str | None, after: ArmKey | None, limit: int) -> list[ArmStats]:
        """The first `limit` arms (or `tenant`'s) after key `after`, in key order: a heap over
        the keys, not a sort of them all. Safe off the event loop, as `snapshot`."""
        with self._lock:
            keys = set(self._synced) | set(self._pending)
        wanted = (
            k for k in keys
            if (tenant is None or k[0] == tenant) and (after is None or k > after)
        )  # fmt: skip
        return [ArmStats(*k, *self.evidence(k)) for k in heapq.nsmallest(limit, wanted)]

    def unsent_keys(self, tenant: str | None, after: ArmKey | None) -> list[ArmKey]:
        """The arms (or `tenant`'s) after key `after` with deltas not yet handed to the store
        (few: the sync takes them every `sync_interval_ms`); a page read from the store adds
        them (policy_view.page)."""
        with self._lock:
            keys = list(self._pending)
        return [
            k for k in keys
            if (tenant is None or k[0] == tenant) and (after is None or k > after)
        ]  # fmt: skip

    def evidence_with(
        self, key: ArmKey, stored: tuple[float, float, float] | None
    ) -> tuple[float, float, float]:
        """The arm's evidence, the store's row (`stored`) standing in for a sync this replica
        has not made yet (an arm another replica wrote since), its own unsent deltas added."""
        if stored is None or key in self._synced:
            return self.evidence(key)
        p = self._pending.get(key)
        a, b, n = stored
        if p is not None:
            a, b, n = a + p.alpha, b + p.beta, n + p.n
        return max(a, 0.0), max(b, 0.0), max(n, 0.0)


def _deltas(taken: dict[ArmKey, _Evidence]) -> list[PolicyDelta]:
    return [
        PolicyDelta(
            *key,
            ev.alpha,
            ev.beta,
            ev.n,
            ev.slope_mean,
            ev.slope_precision,
            ev.slope_center,
            ev.slope_seen,
            ev.slope_center0,
        )
        for key, ev in taken.items()
    ]
