"""The operator's and tenants' read endpoints under /arbiter: the decision feed and one decision,
stats, alerts, the learned policy, the time series (a mixin of server.Handlers: each reads the
store off the event loop, scoped to the caller's tenant unless an admin asks for all or one).

Every read checks its query parameters strictly (`only_params`: an unknown or repeated one is a
400) and flushes the recorder first, so what a caller just did is in what it reads."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from arbiter import policy_view, request_log
from arbiter.auth import authorization, client_address, key_header
from arbiter.errors import InvalidRequest, NotFound
from arbiter.http_json import (
    float_param,
    int_param,
    json_response,
    list_page,
    no_cursor,
    only_params,
    read_scope,
    time_range,
)
from arbiter.learning_spend import learning_charged
from arbiter.principal import Principal
from arbiter.store import NoSuchCursor
from arbiter.store.export import with_billed
from arbiter.tenant_view import own_circuits, own_decision, own_sandbox, own_store
from arbiter.timeseries_bucket import MAX_POINTS, fitted_bucket

if TYPE_CHECKING:
    from arbiter.services import Services


class OperatorReads:
    s: Services

    async def reader(self, request: Request) -> Principal:
        """The caller of a read endpoint (any key, the dashboard's read-only one included)."""
        h = request.headers
        principal = await self.s.auth.authenticate(
            authorization(h), key_header(h), client_address(request)
        )
        if (ctx := request_log.CURRENT.get()) is not None:
            ctx.tenant = principal.tenant
        return principal

    async def decisions(self, request: Request) -> Response:
        principal = await self.reader(request)
        only_params(request, "limit", "before", "after")
        limit = int_param(request, "limit", 50, 1, 1000)
        before = float_param(request, "before")  # rows older than this ts
        after = request.query_params.get("after")  # page on: the previous page's last_id
        if after is not None and before is not None:  # the cursor would win, `before` unread
            raise InvalidRequest(
                "Give 'after' (the previous page's last_id) or 'before' (unix seconds), not both.",
                param="before",
            )
        await asyncio.to_thread(self.s.recorder.flush, 2.0)
        tenant = read_scope(request, principal)
        if after is not None:
            cursor = await asyncio.to_thread(self.s.store.decision, after)
            if cursor is None or (tenant is not None and cursor["tenant"] != tenant):
                raise no_cursor("decision", after)
        rows = await asyncio.to_thread(
            self.s.store.decisions,
            tenant=tenant, limit=limit + 1, before_ts=before, after_id=after,
        )  # fmt: skip
        page = [own_decision(with_billed(row), principal) for row in rows[:limit]]
        return json_response({
            "object": "list", "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(rows) > limit,
        })  # fmt: skip

    async def decision(self, request: Request) -> Response:
        principal = await self.reader(request)
        only_params(request)
        scope = read_scope(request, principal)  # a tenant's key: its own; `?tenant=`: that one
        row = await self.s._lookup_decision(request.path_params["id"], scope)
        if row is None or (scope is not None and row["tenant"] != scope):
            raise NotFound("No such decision.")
        return json_response(own_decision(with_billed(row), principal))

    async def stats(self, request: Request) -> Response:
        principal = await self.reader(request)
        only_params(request)
        await asyncio.to_thread(self.s.recorder.flush, 2.0)
        tenant = read_scope(request, principal)
        data = await asyncio.to_thread(self.s.store.stats, tenant=tenant)
        data["cache"] = await asyncio.to_thread(self.s.store.cache_stats, tenant=tenant)
        if principal.sees_all:  # this process's counters span every tenant
            data["cache"]["this_replica"] = self.s.cache.view()
        # hits are recorded at cost 0 against a baseline of 0: savings_usd is routing's alone
        data["savings"] = {
            "routing_usd": data["savings_usd"],
            "cache_usd": data["cache"]["saved_usd"],
            "total_usd": data["savings_usd"] + data["cache"]["saved_usd"],
        }
        learning_charged(data["learning"], self.s.settings)
        if principal.sees_all:  # this process's counters span every tenant
            data["learning"]["this_replica"] = self.s.learner.replica_view()
        data["circuits"] = own_circuits(self.s.breaker.state(), principal)
        sandbox = await asyncio.to_thread(self.s.executor.stats)
        data["sandbox"] = own_sandbox(sandbox, principal)
        recorder = self.s.recorder
        data["store"] = own_store(
            recorder.backlog, recorder.dropped, self.s.store_healthy, principal
        )
        return json_response(data)

    async def alerts(self, request: Request) -> Response:
        principal = await self.reader(request)
        only_params(request, "limit", "after")
        limit = int_param(request, "limit", 100, 1, 1000)
        after = request.query_params.get("after")  # page on: the previous page's last_id
        await asyncio.to_thread(self.s.recorder.flush, 2.0)
        tenant = read_scope(request, principal)
        # the operator's alerts (circuits, upstreams, discovery) concern every tenant's traffic:
        # an admin sees them next to any one tenant's; a tenant's key never does (an open
        # sidecar has no keys: whoever calls it is the operator)
        operator = principal.sees_all or self.s.auth.open
        try:
            rows = await asyncio.to_thread(
                self.s.store.alerts,
                tenant=tenant, limit=limit + 1, operator=operator, after_id=after,
            )  # fmt: skip
        except NoSuchCursor:
            raise no_cursor("alert", after or "") from None
        return list_page(rows, limit)

    async def policy(self, request: Request) -> Response:
        """The learned policy: evidence and posterior mean per arm, each with what routing for
        its tenant compares it against: the tenant's quality target and baseline (its
        [tenants.*] overrides, else [routing]'s) and the bar they set, target x the baseline's
        posterior mean for that task (at posterior means; routing draws around them)."""
        principal = await self.reader(request)
        only_params(request, "limit", "after")
        tenant = read_scope(request, principal)
        limit = int_param(request, "limit", policy_view.DEFAULT_LIMIT, 1, policy_view.MAX_LIMIT)
        after = request.query_params.get("after")
        cursor = None if after is None else policy_view.decode_cursor(after)
        # off the event loop, a page at a time: the rows are the policy's arms (tenants x tasks
        # x models), and 96,000 of them, unpaged, held the loop 3.6 s on it, 0.1-0.7 s off it
        # (a 17.7 MB answer)
        s = self.s

        def page() -> Response:  # the rows and their JSON, both off the loop
            return json_response(
                policy_view.page(s.policy, s.router_for_tenant, tenant, cursor, limit, s.store)
            )

        return await asyncio.to_thread(page)

    async def timeseries(self, request: Request) -> Response:
        """Per-minute (or `bucket_s`) points from the durable rollups; tenant-scoped, admin sees
        all tenants (or one with `tenant=`). `since`/`until`: unix seconds or ISO-8601. A bucket
        too fine for the range is widened (timeseries_bucket.py): the answer says which."""
        principal = await self.reader(request)
        only_params(request, "since", "until", "bucket_s", "model", "task")
        q = request.query_params
        now = time.time()
        since, until = time_range(request, now - 3600, now + 60)
        tenant = read_scope(request, principal)
        asked = int_param(request, "bucket_s", 60, 60, 86400, step=60)  # the rollups' minute
        bucket = fitted_bucket(since, until, asked)  # at most MAX_POINTS points, whatever the range
        await asyncio.to_thread(self.s.recorder.flush, 2.0)
        window: dict[str, Any] = {
            "tenant": tenant, "since": since, "until": until, "model": q.get("model"),
            "task": q.get("task"), "bucket_s": bucket,
        }  # fmt: skip
        store = self.s.store

        def read() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return store.timeseries(**window), store.learning_timeseries(**window)

        points, learning = await asyncio.to_thread(read)
        # `data`: the tenants' own requests; `learning`: Arbiter's calls to learn, per mode, on
        # the same grid (as /arbiter/stats' top-level figures and its `learning` block)
        return json_response({
            "object": "list", "since": since, "until": until,
            "bucket_s": bucket, "requested_bucket_s": asked, "max_points": MAX_POINTS,
            "data": points, "learning": learning,
        })  # fmt: skip
