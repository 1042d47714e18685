"""The admin API: client keys, the model registry's overrides, challengers, the response cache's
entries. Every endpoint needs the admin key; none is on the request path (split from server.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arbiter.auth import create_key, key_request_fields, public_view
from arbiter.classify import ALL_TASKS
from arbiter.errors import InvalidRequest, NotFound, UnknownModel
from arbiter.http_json import (
    int_param,
    json_object,
    json_response,
    list_page,
    no_cursor,
    no_nul,
    only_params,
)
from arbiter.principal import Principal
from arbiter.registry import validate_patch
from arbiter.request_body import read_body
from arbiter.store import NoSuchCursor

if TYPE_CHECKING:
    from arbiter.services import Services


class AdminHandlers:
    def __init__(
        self, services: Services, admin: Callable[[Request], Awaitable[Principal]]
    ) -> None:
        self.s = services
        self.admin = admin  # the caller, who must hold the admin key (server.Handlers.admin)

    async def create_key(self, request: Request) -> Response:
        await self.admin(request)
        body = key_request_fields(json_object(await read_body(request, 64 * 1024)))
        tenant = body.get("tenant", "default")
        name = body.get("name", "")
        expires = body.get("expires_in_s")
        if (
            not isinstance(tenant, str)
            or not isinstance(name, str)
            or not (
                expires is None
                or (isinstance(expires, int | float) and not isinstance(expires, bool))
            )
        ):
            raise InvalidRequest(
                "Give 'tenant' (string), 'name' (string), 'expires_in_s' (number)."
            )
        no_nul(name, "name")
        new = await asyncio.to_thread(
            create_key,
            self.s.store,
            tenant,
            name=name,
            expires_in_s=float(expires) if expires is not None else None,
        )
        return json_response(
            {
                "id": new.id,
                "key": new.key,
                "tenant": new.tenant,
                "name": new.name,
                "created_ts": new.created_ts,
                "expires_ts": new.expires_ts,
            },
            status=201,
        )

    async def list_keys(self, request: Request) -> Response:
        """Keys in creation order, a page at a time (`limit`, `after`: the last page's last_id).
        Unpaged, 100,000 keys were a 17 MB answer built on the event loop (0.7 s that no request
        was served)."""
        await self.admin(request)
        only_params(request, "limit", "after")
        limit = int_param(request, "limit", 1000, 1, 1000)
        after = request.query_params.get("after")

        tenant = request.query_params.get("tenant")

        def page() -> list[dict[str, Any]]:
            rows = self.s.store.list_keys(tenant, limit=limit + 1, after_id=after)
            if not rows and tenant is not None and after is None and not self._known(tenant):
                # a typo (`?tenant=serach-team`) read as "no keys" sent the operator astray
                raise NotFound(
                    f"No tenant {tenant[:64]!r}: no key was ever made for it, the config has "
                    "no [tenants] section for it and it has no decision on record.",
                    param="tenant",
                )
            return [public_view(r) for r in rows]

        try:
            rows = await asyncio.to_thread(page)
        except NoSuchCursor:
            raise no_cursor("key", after or "") from None
        return list_page(rows, limit)

    def _known(self, tenant: str) -> bool:
        """A tenant holding no key (revoked ones count) is still known when the config names
        it (keys not made yet) or it has decisions (an open sidecar's tenants hold none)."""
        return tenant in self.s.settings.tenants or tenant in self.s.store.tenants()

    async def revoke_key(self, request: Request) -> Response:
        await self.admin(request)
        key_id = request.path_params["id"]
        view = await self.s.auth.revoke(key_id)
        self.s.key_streams.cut({key_id})  # this process's streams of it end at once
        return json_response(view)

    async def registry(self, request: Request) -> Response:
        """The registry by model name, a page at a time (`limit` 1-1000, default 1000;
        `after=<last_id>` while `has_more`), built in a worker thread: with thousands of
        discovered models (each with its listing) the whole view was megabytes built on the
        event loop. Each page carries the discovery polls' state (one entry per upstream)."""
        await self.admin(request)
        only_params(request, "limit", "after")
        limit = int_param(request, "limit", 1000, 1, 1000)
        after = request.query_params.get("after")
        if after is not None:
            no_nul(after, "after")
        discovery = {n: dataclasses.asdict(st) for n, st in self.s.discovery.stats.items()}

        def page() -> Response:  # the rows and their JSON (up to megabytes): both off the loop
            return list_page(self.s.registry.view(after, limit + 1), limit, key="name",
                             discovery=discovery)  # fmt: skip

        return await asyncio.to_thread(page)

    async def challengers(self, request: Request) -> Response:
        """The A/B report per challenger: calls, cost, grades vs the incumbent, status."""
        await self.admin(request)
        only_params(request)
        sh = self.s.shadow
        return json_response({"object": "list", "data": sh.report(), "skipped": dict(sh.skipped)})

    async def challenger_action(self, request: Request) -> Response:
        """Promote, pause, resume or retire a challenger, on every replica."""
        await self.admin(request)
        body = json_object(await read_body(request, 64 * 1024))
        tasks = body.get("tasks")
        if tasks is not None and not (
            isinstance(tasks, list) and all(isinstance(t, str) and t for t in tasks)
        ):
            raise InvalidRequest("'tasks' must be a list of task names.", param="tasks")
        # routing asks by the exact name: promoted for a typo, the model would route nowhere
        if unknown := [t for t in tasks or () if t not in ALL_TASKS]:
            raise InvalidRequest(
                f"'tasks' has an unknown task {unknown[0]!r} (tasks: {', '.join(ALL_TASKS)}).",
                param="tasks",
            )
        action = body.get("action")
        if not isinstance(action, str):
            raise InvalidRequest("'action' is required: promote, pause, resume or retire.",
                                 param="action")  # fmt: skip
        result = await self.s.shadow.act(request.path_params["name"], action, tasks)
        return json_response(result)

    async def patch_model(self, request: Request) -> Response:
        """Change a model's price, context window, priors, image rule or enabled flag on every
        replica."""
        await self.admin(request)
        name = request.path_params["name"]
        if not self.s.registry.known(name):
            raise UnknownModel(f"The model `{name}` is not in the registry.", param="name")
        patch = validate_patch(json_object(await read_body(request, 64 * 1024)))
        merged = await asyncio.to_thread(self.s.store.set_model_override, name, patch, time.time())
        await asyncio.to_thread(self.s.refresh_registry)  # here at once; elsewhere on next sync
        return json_response({"model": name, "overrides": merged})

    # -- the response cache (admin) ---------------------------------------------------------
    async def cache_list(self, request: Request) -> Response:
        """Cache entries, newest first; `tenant=` filters, `after=` pages on."""
        await self.admin(request)
        only_params(request, "limit", "after")
        q = request.query_params
        limit = int_param(request, "limit", 50, 1, 1000)
        after = q.get("after")  # as on /arbiter/decisions: a cursor naming nothing is no last page
        if after is not None and not await asyncio.to_thread(self.s.store.cache_exists, after):
            raise no_cursor("cache entry", after)
        rows = await asyncio.to_thread(
            functools.partial(
                self.s.store.cache_list, tenant=q.get("tenant"), limit=limit + 1,
                after_id=after,
            )
        )  # fmt: skip
        return list_page(rows, limit)

    async def cache_delete(self, request: Request) -> Response:
        await self.admin(request)
        entry_id = request.path_params["id"]
        if not await self.s.cache.invalidate(entry_id):
            raise NotFound(f"No cache entry {entry_id!r}.")
        return json_response({"id": entry_id, "deleted": True})

    async def cache_purge(self, request: Request) -> Response:
        """Delete every entry, or those of `tenant` and/or `model`."""
        await self.admin(request)
        raw = await read_body(request, 64 * 1024)
        body = json_object(raw) if raw.strip() else {}
        tenant, model = body.get("tenant"), body.get("model")
        if not all(v is None or isinstance(v, str) for v in (tenant, model)) or set(body) - {
            "tenant",
            "model",
        }:
            raise InvalidRequest("Give only 'tenant' and/or 'model' (strings), or nothing.")
        # an explicit null (a script's unset variable) is no filter: it would purge every entry
        if null := next((k for k in ("tenant", "model") if k in body and body[k] is None), None):
            raise InvalidRequest(
                f"'{null}' is null: give a name, or leave it out to purge every {null}'s entries.",
                param=null,
            )
        no_nul(tenant, "tenant")
        no_nul(model, "model")
        purged = await self.s.cache.purge(tenant, model)
        return json_response({"purged": purged, "tenant": tenant, "model": model})

    async def reload_config(self, request: Request) -> Response:
        """Re-read the config file (config_reload.py): 200 applied or unchanged; a file that
        fails the parser, or that changes what cannot change live, is a 400 saying why, and
        the old config keeps serving. With `server.workers = N` every worker reloads."""
        await self.admin(request)
        only_params(request)
        reloader = self.s.reloader
        if reloader is None:
            raise InvalidRequest(
                "This sidecar was not started from a config file (arbiter serve --config): "
                "there is nothing to reload."
            )
        result = await reloader.reload(tell_workers=True)
        if result.outcome in ("invalid", "refused"):
            raise InvalidRequest(f"Config not reloaded ({result.outcome}): {result.message}")
        return json_response({"object": "config_reload", **result.to_json()})


def routes(h: AdminHandlers, guard: Callable[[Any], Any]) -> list[Route]:
    """The admin API's routes; `guard` turns ArbiterErrors into error responses (server._guard)."""
    return [
        Route("/arbiter/admin/keys", guard(h.create_key), methods=["POST"]),
        Route("/arbiter/admin/keys", guard(h.list_keys), methods=["GET"]),
        Route("/arbiter/admin/keys/{id}", guard(h.revoke_key), methods=["DELETE"]),
        Route("/arbiter/admin/reload", guard(h.reload_config), methods=["POST"]),
        Route("/arbiter/admin/models", guard(h.registry), methods=["GET"]),
        Route("/arbiter/admin/models/{name:path}", guard(h.patch_model), methods=["PATCH"]),
        Route("/arbiter/challengers", guard(h.challengers), methods=["GET"]),
        Route("/arbiter/challengers/{name:path}", guard(h.challenger_action), methods=["POST"]),
        Route("/arbiter/cache", guard(h.cache_list), methods=["GET"]),
        Route("/arbiter/cache/purge", guard(h.cache_purge), methods=["POST"]),
        Route("/arbiter/cache/{id}", guard(h.cache_delete), methods=["DELETE"]),
    ]
