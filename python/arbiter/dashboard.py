"""The operator's dashboard at /arbiter/ui: static files shipped in arbiter/ui (no build step, no
network), plus the one JSON view the existing APIs lack (/arbiter/pareto).

The static files hold no data, so they are public; the page asks for a key (the admin key, the
read-only dashboard key, or a tenant's client key, which sees only its tenant) and its script
sends it as a Bearer header to the JSON APIs. A strict CSP allows only these files' own script
and style: no inline code, no other origin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arbiter import pareto
from arbiter.errors import NotFound
from arbiter.http_json import json_response, only_params, read_scope

_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "views.js": "text/javascript; charset=utf-8",
    "text.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}


def _load_assets() -> dict[str, bytes]:
    root = resources.files("arbiter") / "ui"
    return {name: (root / name).read_bytes() for name in _TYPES}


def routes(handlers: Any, guard: Callable[[Any], Any]) -> list[Route]:
    """The UI's routes; `handlers` is server.Handlers (its `reader` and services), `guard` turns
    ArbiterErrors into error responses."""
    assets: Mapping[str, bytes] = _load_assets()

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        body = assets.get(name)
        if body is None:
            raise NotFound(f"No dashboard file {name!r}.")
        return Response(body, media_type=_TYPES[name], headers=_HEADERS)

    async def pareto_view(request: Request) -> Response:
        """Per task: each model's cost per request and mean grade, the frontier, the router."""
        principal = await handlers.reader(request)
        only_params(request)
        s = handlers.s
        await asyncio.to_thread(s.recorder.flush, 2.0)
        tenant = read_scope(request, principal)
        groups = await asyncio.to_thread(s.store.quality_by_model, tenant=tenant)
        return json_response({"object": "list", "data": pareto.by_task(groups)})

    async def tenants(request: Request) -> Response:
        """The tenants the caller may look at: every tenant with traffic for the admin and
        dashboard keys (`sees_all`), else only its own."""
        principal = await handlers.reader(request)
        only_params(request)
        read_scope(request, principal)  # a tenant's key naming another tenant: 403
        if not principal.sees_all:
            return json_response({"sees_all": False, "data": [principal.tenant]})
        s = handlers.s
        await asyncio.to_thread(s.recorder.flush, 2.0)
        names = await asyncio.to_thread(s.store.tenants)
        return json_response({"sees_all": True, "data": names})

    return [
        Route("/arbiter/ui", guard(page), methods=["GET"]),
        Route("/arbiter/ui/", guard(page), methods=["GET"]),
        Route("/arbiter/ui/{name}", guard(page), methods=["GET"]),
        Route("/arbiter/pareto", guard(pareto_view), methods=["GET"]),
        Route("/arbiter/tenants", guard(tenants), methods=["GET"]),
    ]
