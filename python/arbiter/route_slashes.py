"""Each route also under its path with a trailing slash (`POST /v1/chat/completions/`).

Starlette answers such a path with a 307 redirect to the route without the slash, which the SDKs
do not follow for a POST (httpx follows no redirect by default): the caller saw an error about a
redirect, never an answer. A hand-written URL with the slash is served like the one without, as
the dashboard already was (`/arbiter/ui` and `/arbiter/ui/`), and nothing redirects: an unknown
path is the surface's 404 (http_errors), slash or not.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Route


def with_slash_twins(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """`routes`, each Route followed by its twin ending in "/" unless that path is a route of its
    own already, or ends in a `{...:path}` parameter (which takes the slash itself)."""
    paths = {(r.path, m) for r in routes if isinstance(r, Route) for m in r.methods or ()}
    out: list[BaseRoute] = []
    for route in routes:
        out.append(route)
        if not isinstance(route, Route) or route.path.endswith(("/", ":path}")):
            continue
        twin = route.path + "/"
        methods = [m for m in route.methods or () if (twin, m) not in paths and m != "HEAD"]
        if methods:
            out.append(Route(twin, route.endpoint, methods=methods, name=route.name))
    return out
