"""The app's error answers: an ArbiterError in a surface's shape (`error_response`), and the
answers no route gives: an unknown path (404), a method the path does not take (405 with
`Allow`), Starlette's other HTTP errors, and an unhandled exception (500, logged). Under
/v1/messages, or asked with the `anthropic-version` header the anthropic SDK sends on every
call (its `beta.files`, say, meets an unknown path), they take Anthropic's error shape,
elsewhere OpenAI's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from arbiter import request_log
from arbiter.errors import (
    ArbiterError,
    BudgetExceeded,
    InvalidRequest,
    MethodNotAllowed,
    NoRouteAvailable,
    NotFound,
    RateLimited,
    RequestTimeout,
    UpstreamError,
)
from arbiter.http_json import JSON
from arbiter.ratelimit_names import Surface, for_surface
from arbiter.request_log import finish_headers
from arbiter.surfaces import anthropic_messages as anthropic_surface
from arbiter.surfaces import openai_chat as openai_surface
from arbiter.unserved_paths import unserved_message

anthropic_render = anthropic_surface.render_error
log = logging.getLogger("arbiter.server")

Render = Callable[[ArbiterError], tuple[bytes, int]]


def error_response(err: ArbiterError, render: Render = openai_surface.render_error) -> Response:
    """`err` in a surface's error shape (OpenAI's unless `render` says otherwise)."""
    headers = {"x-content-type-options": "nosniff"}  # an error body is JSON, never sniffed
    if isinstance(err, RequestTimeout):  # a client too slow to send its body may still be
        headers["connection"] = "close"  # sending it: end the connection
    if isinstance(err, UpstreamError) and err.retry_after_s:
        # the upstream's Retry-After, passed on: the SDKs wait that long before they retry
        headers["retry-after"] = str(math.ceil(err.retry_after_s))
    elif isinstance(err, NoRouteAvailable) and err.retry_after_s is not None:
        # open circuits: a retry before the first lets a probe through meets the same refusal
        headers["retry-after"] = str(max(math.ceil(err.retry_after_s), 1))
    elif isinstance(err, RateLimited):
        headers["retry-after"] = str(max(math.ceil(err.retry_after_s), 1))
    elif isinstance(err, BudgetExceeded) and err.retryable:
        headers["retry-after"] = "1"  # only requests in flight stand in the way
    elif isinstance(err, BudgetExceeded) and err.resets_in_s is not None:
        # the spend alone passes the cap: nothing passes before its window resets
        headers["retry-after"] = str(max(math.ceil(err.resets_in_s), 1))
    if isinstance(err, UpstreamError) and err.upstream_headers:
        # the upstream's rate-limit state, under the names this surface's clients read
        surface: Surface = "anthropic" if render is anthropic_render else "openai"
        headers.update(for_surface(err.upstream_headers, surface))
    retry = err.should_retry  # the SDKs obey it over their own status rules
    if retry is not None:
        headers["x-should-retry"] = "true" if retry else "false"
    body, status = render(err)
    return Response(body, status_code=status, media_type=JSON, headers=headers)


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = _http_error(request, exc)
    # no route ran (an unknown path, a method it does not take): the id still goes back, for
    # the SDK error's `request_id`
    finish_headers(response, request_log.request_id(request.headers.get("x-request-id")))
    return response


def render_for(request: Request) -> Render:
    """The error shape the caller reads: Anthropic's under its path or from its SDK (which
    reads the error type from it; the openai SDK never sends `anthropic-version`), else
    OpenAI's."""
    if request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return anthropic_render
    return openai_surface.render_error


def _http_error(request: Request, exc: HTTPException) -> Response:
    render = render_for(request)
    try:  # an unknown path too: to a foreign Host, the same answer as a known one
        request.app.state.hosts.check_request(
            request.headers.getlist("host"), request.scope.get("http_version", "1.1")
        )
    except ArbiterError as refused:
        return error_response(refused, render)
    if exc.status_code == 404:
        path = request.url.path
        message = unserved_message(path) or f"Unknown path {path}."
        return error_response(NotFound(message), render)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        response = error_response(
            MethodNotAllowed(f"{request.method} is not allowed here (use {allowed})."), render
        )
        response.headers["allow"] = allowed  # RFC 9110: a 405 names what the path takes
        return response
    response = error_response(InvalidRequest(str(exc.detail)), render)
    response.status_code = exc.status_code  # Starlette's own status (its detail as a 400's)
    return response


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path takes (one path may have a route per method:
    Starlette's own Allow names only the first route's)."""
    path = request.url.path
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def unhandled(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    failed = ArbiterError("The server had an error while processing your request.")
    return error_response(failed, render_for(request))
