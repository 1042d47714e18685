"""The learned policy: per (tenant, task, model) evidence of good and bad answers.

Owns the in-memory arm statistics the router reads on every request (no I/O there) and the
additive deltas exchanged with the store, so several replicas merge by summing (never overwrite).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from arbiter.records import ArmStats, PolicyDelta

ArmKey = tuple[str, str, str]  # (tenant, task, model)


@dataclass(slots=True)
class _Evidence:
    alpha: float = 0.0
    beta: float = 0.0
    n: float = 0.0


class Policy:
    """Arm evidence = what the store had at the last sync + local deltas not yet pushed."""

    def __init__(self) -> None:
        self._synced: dict[ArmKey, _Evidence] = {}
        self._pending: dict[ArmKey, _Evidence] = {}
        self._lock = threading.Lock()  # the sync thread swaps maps; request path only reads/adds

    def evidence(self, key: ArmKey) -> tuple[float, float, float]:
        s, p = self._synced.get(key), self._pending.get(key)
        a = (s.alpha if s else 0.0) + (p.alpha if p else 0.0)
        b = (s.beta if s else 0.0) + (p.beta if p else 0.0)
        n = (s.n if s else 0.0) + (p.n if p else 0.0)
        return a, b, n

    def add(self, key: ArmKey, d_alpha: float, d_beta: float, d_n: float) -> None:
        with self._lock:
            ev = self._pending.setdefault(key, _Evidence())
            ev.alpha += d_alpha
            ev.beta += d_beta
            ev.n += d_n

    def take_deltas(self) -> list[PolicyDelta]:
        """Hand over the local deltas to be written; they stay counted until `replace_synced`."""
        with self._lock:
            taken, self._pending = self._pending, {}
            for key, ev in taken.items():  # keep them visible until the store confirms
                s = self._synced.setdefault(key, _Evidence())
                s.alpha += ev.alpha
                s.beta += ev.beta
                s.n += ev.n
        return [PolicyDelta(*key, ev.alpha, ev.beta, ev.n) for key, ev in taken.items()]

    def replace_synced(self, arms: Iterable[ArmStats]) -> None:
        """Adopt the store's totals (which include every replica's pushed deltas)."""
        fresh = {(a.tenant, a.task, a.model): _Evidence(a.alpha, a.beta, a.n) for a in arms}
        with self._lock:
            self._synced = fresh

    def snapshot(self) -> list[ArmStats]:
        keys = set(self._synced) | set(self._pending)
        return [ArmStats(*k, *self.evidence(k)) for k in sorted(keys)]
