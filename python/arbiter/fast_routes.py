"""The model-calling POST routes straight to their endpoint, past Starlette's routing layers.

Every request went through `Starlette.__call__`, `ExceptionMiddleware` (a Request and a wrapper
of `send`), the `Router` (a loop over the routes, a path regex), `Route.handle` and
`request_response` (another Request, another wrapper of `send`), each an `async` call, and each
streamed piece through three `send` wrappers: ~6-12 us a request, hot (bench/results/scale.md,
sixteenth session). `FastRoutesApp` sends a POST to one of the paths it was given (exactly,
without a root path) to its endpoint from a dict, inside the same error handling Starlette
gives it: `ServerErrorMiddleware` (the 500 handler, re-raised for the server to log) around
`wrap_app_handling_exceptions` (the HTTPException handler, ...) with the app's own handlers. The
outer `ExceptionMiddleware` layer it skips could only look up the same handlers again for what
the inner one re-raised (none matched there, so none matches). Every other request, and
everything when the app has middleware of its own, goes through Starlette as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from arbiter.after_answer import AfterAnswer

from starlette._exception_handler import wrap_app_handling_exceptions  # isort: skip


class FastRoutesApp(Starlette):
    """A Starlette app whose `fast_posts` (see module docstring) skip its routing layers."""

    _fast: dict[str, Route] | None = None
    _errors: ServerErrorMiddleware | None = None
    # every HTTP request served with its learning deferred past its answer (after_answer.py)
    after: AfterAnswer | None = None

    def fast_posts(self, routes: Iterable[Route]) -> None:
        """Serve POSTs to these routes' paths directly: each must be a plain function's POST-only
        route without parameters, and the first route of the app that takes a POST to its path
        (else Starlette would pick another, and so does this: it is left out)."""
        fast: dict[str, Route] = {}
        for route in routes:
            if route.methods != {"POST"} or route.param_convertors:
                raise ValueError(f"{route.path}: not a POST-only route without parameters")
            if self._first_match(route.path) is route:
                fast[route.path] = route
        self._fast = fast

    def _first_match(self, path: str) -> BaseRoute | None:
        scope = {"type": "http", "method": "POST", "path": path, "root_path": ""}
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        after = self.after
        if after is not None and scope["type"] == "http":
            await after.serve(self._dispatch, scope, receive, send)
        else:
            await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self._fast
        if fast and scope["type"] == "http" and scope["method"] == "POST":
            route = fast.get(scope["path"])
            if route is not None and not scope.get("root_path"):
                scope["app"] = self
                errors = self._errors or self._error_layer()
                if errors is not None:
                    scope["router"] = scope.get("router", self.router)
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = dict(scope.get("path_params", {}))
                    await errors(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    def _error_layer(self) -> ServerErrorMiddleware | None:
        """The app's own 500 layer over a dispatch to the scope's endpoint, with the handlers of
        its own ExceptionMiddleware; None (Starlette serves everything) when the app has other
        middleware between them, whose work the fast path would skip."""
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        outer = self.middleware_stack
        inner = getattr(outer, "app", None)
        if not isinstance(outer, ServerErrorMiddleware) or not isinstance(
            inner, ExceptionMiddleware
        ):
            self._fast = None
            return None
        handlers = (inner._exception_handlers, inner._status_handlers)

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            scope["starlette.exception_handlers"] = handlers
            request = Request(scope, receive, send)
            endpoint: Any = scope["endpoint"]

            async def answer(scope: Scope, receive: Receive, send: Send) -> None:
                response = await endpoint(request)
                await response(scope, receive, send)

            await wrap_app_handling_exceptions(answer, request)(scope, receive, send)

        self._errors = ServerErrorMiddleware(dispatch, handler=outer.handler, debug=outer.debug)
        return self._errors
