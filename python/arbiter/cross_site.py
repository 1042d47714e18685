"""Requests a browser sends on behalf of a page on another site: refused (403) unless they only
read (GET, HEAD). No client of the sidecar is such a page: it sends no CORS headers, so a page
could never read an answer, yet a "simple" cross-site POST (text/plain body, no custom header)
needs no preflight, and to an open sidecar (`[auth] mode = "open"`) it was a billed, recorded
call. Browsers mark every request with where it comes from (`Sec-Fetch-Site`); SDKs, curl and
other non-browser clients send no such header and are never affected."""

from __future__ import annotations

from starlette.requests import Request

from arbiter.errors import PolicyDenied

_READS = frozenset({"GET", "HEAD"})  # a link from another site still opens the dashboard
_OTHER_SITES = frozenset({"cross-site", "same-site"})  # same-site: another port of localhost too


class CrossSiteRequest(PolicyDenied):
    code = "cross_site_request"


def refuse_cross_site(request: Request) -> None:
    if request.method in _READS:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() in _OTHER_SITES:
        raise CrossSiteRequest(
            "A page on another site cannot call this sidecar from a browser "
            f"(Sec-Fetch-Site: {site[:32]}); call it from your application's server side."
        )
