"""Kubernetes' probes, apart from /healthz (which stays as users wired it): `/livez`, the
process answers (200 unless its loop is wedged, when it answers nothing), and `/readyz`, send
it traffic: a 503 naming why not while it starts (its store opened and migrated, its pool
loaded: `Services.started`; with `server.workers`, until every worker serves), while it drains
after SIGTERM (`Stopping.draining`), and while the store is down under strict durability, when
every answer would be a 503. Each reads state the sidecar already keeps: no store round trip.

A budget cap whose outage allowance is spent (the store down under batched durability) leaves it
ready, the body counting such caps: the allowance is each replica's own and the refusals are a
cap's (a tenant's, a key's, or the global one), so taking pods out of service would only move the
traffic onto replicas that spend theirs, then leave the Service with no endpoint at all, where
every client would get a refused connection instead of a 503 that names the cause and says when
to retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arbiter.worker_ready import workers_ready

if TYPE_CHECKING:
    from arbiter.services import Services


def readiness(s: Services) -> tuple[int, dict[str, Any]]:
    """(status, body) of /readyz."""
    body: dict[str, Any] = {"status": "ready", "store_healthy": s.store_healthy}
    workers = workers_ready()
    if workers is not None:
        body["workers"] = {"ready": workers[0], "of": workers[1]}
    if s.budgets.enabled and s.budgets.store_down:
        body["budgets"] = {"store_down": True, "outage_allowance_spent": s.budgets.allowance_spent}
    if not s.started or (workers is not None and workers[0] < workers[1]):
        return 503, {**body, "status": "starting"}
    if s.stopping.draining or s.stopping.started:
        return 503, {**body, "status": "draining"}
    if s.settings.store.durability == "strict" and not body["store_healthy"]:
        # batched durability answers on (records queued): ready; strict would answer 503s
        return 503, {**body, "status": "store_unavailable"}
    return 200, body
