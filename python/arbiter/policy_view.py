"""`GET /arbiter/policy`'s rows, a page at a time: each arm as routing for its tenant sees it.

Built in a worker thread (the caller's `asyncio.to_thread`): with 96,000 arms (3,000 tenants x
8 tasks x 4 models) the whole view was a 17.7 MB answer that held the loop; a page is at most
`MAX_LIMIT` rows, read from the store by the cursor (its index: a page costs its rows, where a
heap over every arm's key rescanned all 96,000 for each of the 96 pages), with the arms whose
deltas the store has not had yet merged in. The cursor (`last_id`, sent back as `after`) is the
last row's (tenant, task, model), opaque to the caller: arms are keys, not rows with ids, and a
key gone since is no error (the next page starts after where it would be).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from arbiter import page_cursor
from arbiter.policy import ArmKey, Policy
from arbiter.records import ArmStats
from arbiter.routing import Router
from arbiter.store import Store, StoreError

DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000


def encode_cursor(arm: ArmStats) -> str:
    return page_cursor.encode([arm.tenant, arm.task, arm.model])


def _arm_key(key: list[Any]) -> bool:
    return len(key) == 3 and all(isinstance(k, str) for k in key)


def decode_cursor(text: str) -> ArmKey:
    """`after` back to its key, or the caller's 400 naming it."""
    key = page_cursor.decode(text, _arm_key)
    return key[0], key[1], key[2]


def page(
    policy: Policy,
    router_for_tenant: Callable[[str], Router],
    tenant: str | None,
    after: ArmKey | None,
    limit: int,
    store: Store | None = None,
) -> dict[str, Any]:
    """One page of rows, in (tenant, task, model) order, with `last_id` and `has_more`.
    `store`: the page's keys are read from it by the cursor (index-backed: arm_pages.py), with
    this replica's unsent arms merged in; None, or the store down: the in-memory heap."""
    arms = _arms(policy, store, tenant, after, limit + 1)
    routers: dict[str, Router] = {}
    rows = []
    for arm in arms[:limit]:
        router = routers.get(arm.tenant)
        if router is None:
            router = routers[arm.tenant] = router_for_tenant(arm.tenant)
        rows.append(row(router, arm))
    last = encode_cursor(arms[len(rows) - 1]) if rows else None
    return {"object": "list", "data": rows, "last_id": last, "has_more": len(arms) > limit}


def _arms(
    policy: Policy, store: Store | None, tenant: str | None, after: ArmKey | None, n: int
) -> list[ArmStats]:
    """The first `n` arms after `after`: the store's by its index, and the arms with deltas the
    store has not had yet, each with this replica's evidence where it synced the arm, else the
    store's (another replica's arm, before the next sync); its own unsent deltas added."""
    if store is None:
        return policy.page(tenant, after, n)
    try:
        stored = {(a.tenant, a.task, a.model): a for a in store.arms_page(tenant, after, n)}
    except StoreError:
        return policy.page(tenant, after, n)  # an outage: what this replica holds
    # the store's first n and the unsent: any stored key past its first n is past all of them
    keys = heapq.nsmallest(n, stored.keys() | set(policy.unsent_keys(tenant, after)))
    out = []
    for k in keys:
        a = stored.get(k)
        row = None if a is None else (a.alpha, a.beta, a.n)
        out.append(ArmStats(*k, *policy.evidence_with(k, row)))
    return out


def row(router: Router, arm: ArmStats) -> dict[str, Any]:
    """One arm as routing for its tenant sees it (`router`: the tenant's)."""
    p = router.params
    model = router.pool.get(arm.model)
    a, b = router.posterior(arm.tenant, arm.task, model) if model else (arm.alpha, arm.beta)
    base = router.pool.get(p.baseline)
    bar = None
    if base is not None:
        ba, bb = router.posterior(arm.tenant, arm.task, base)
        bar = round(p.quality_target * ba / (ba + bb), 4)
    return {
        "tenant": arm.tenant,
        "task": arm.task,
        "model": arm.model,
        "alpha": arm.alpha,
        "beta": arm.beta,
        "n": arm.n,
        "posterior_mean": round(a / (a + b), 4),
        "quality_target": p.quality_target,
        "baseline": p.baseline,
        "quality_bar": bar,
    }
