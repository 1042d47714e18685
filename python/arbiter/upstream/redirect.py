"""An upstream's 3xx answer: a configuration error, never followed.

A redirect from an LLM API means its base_url is wrong (http for https, a moved host or path).
Following it would send the operator's key and the caller's prompt to a place nobody configured,
and reading its body as an answer made it a "malformed answer" that said nothing useful."""

from __future__ import annotations

import logging

import httpx

from arbiter.errors import UpstreamRedirected

log = logging.getLogger("arbiter.upstream")

_HOST_CHARS = 253  # a DNS name's longest; anything longer is not a host worth quoting


def location_host(headers: httpx.Headers) -> str | None:
    """The host the Location header points at; None when there is none, it is relative (the
    same host: a moved path) or it does not parse."""
    location = headers.get("location")
    if not location:
        return None
    try:
        host = httpx.URL(location.strip()).host
    except (httpx.InvalidURL, ValueError):
        return None
    return host[:_HOST_CHARS] or None


def redirect_error(model: str, status: int, headers: httpx.Headers) -> UpstreamRedirected:
    """The error for a 3xx: the client's text names the model and the status; the Location's
    host goes to the operator (log and alert) only."""
    host = location_host(headers)
    log.warning(
        "upstream %s answered HTTP %d (a redirect, not followed) to %s", model, status, host,
        extra={"model": model, "status": status, "location_host": host},
    )  # fmt: skip
    return UpstreamRedirected(
        f"upstream {model} answered HTTP {status} (a redirect, not followed): "
        "its base_url is misconfigured",
        upstream_status=status,
        location_host=host,
    )
