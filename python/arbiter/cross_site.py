"""Requests a browser sends on behalf of a page on another site: refused (403) unless they only
read (GET, HEAD). No client of the sidecar is such a page: it sends no CORS headers, so a page
could never read an answer, yet a "simple" cross-site POST (text/plain body, no custom header)
needs no preflight, and to an open sidecar (`[auth] mode = "open"`) it was a billed, recorded
call. Browsers mark every request with where it comes from (`Sec-Fetch-Site`); SDKs, curl and
other non-browser clients send no such header and are never affected.

A browser sends `Sec-Fetch-Site` only to a potentially trustworthy URL (https, localhost,
127.0.0.1): to an open sidecar a LAN or a Compose network reaches at `http://10.0.0.5:8787` or
`http://arbiter:8787` it sends none, nor do browsers older than Fetch Metadata (Safari before
16.4). Every browser sends `Origin` on a cross-origin POST, so without `Sec-Fetch-Site` an
`Origin` that is not the request's own `Host` (or is `null`: a sandboxed frame, a file) is
refused alike. Non-browser clients send no `Origin` either."""

from __future__ import annotations

from starlette.requests import Request

from arbiter.errors import PolicyDenied

_READS = frozenset({"GET", "HEAD"})  # a link from another site still opens the dashboard
_OTHER_SITES = frozenset({"cross-site", "same-site"})  # same-site: another port of localhost too
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class CrossSiteRequest(PolicyDenied):
    code = "cross_site_request"


def refuse_cross_site(request: Request) -> None:
    if request.method in _READS:
        return
    headers = request.headers
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site.lower() in _OTHER_SITES:
            raise CrossSiteRequest(
                "A page on another site cannot call this sidecar from a browser "
                f"(Sec-Fetch-Site: {site[:32]}); call it from your application's server side."
            )
        return
    origin = headers.get("origin")
    if origin is not None and not same_origin(origin, headers.get("host")):
        raise CrossSiteRequest(
            "A page on another site cannot call this sidecar from a browser "
            f"(Origin: {origin[:64]}); call it from your application's server side."
        )


def same_origin(origin: str, host: str | None) -> bool:
    """Whether `origin` ("scheme://host[:port]") names the `Host` the request was sent to, the
    scheme's default port written or not. Plain string work: both come from the client."""
    scheme, sep, authority = origin.partition("://")
    if not sep or not authority or host is None:  # "null", or no Host to hold it against
        return False
    default = _DEFAULT_PORTS.get(scheme.lower(), "")
    return _without(authority.lower(), default) == _without(host.lower(), default)


def _without(authority: str, default_port: str) -> str:
    if default_port and authority.endswith(default_port):
        return authority[: -len(default_port)]
    return authority
