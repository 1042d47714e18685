"""JSON in and out of the HTTP routes: a body read as an object, path and query parameters
checked (a client's mistake is a 400 naming the parameter, never a store error), a response
written as JSON (split from server.py)."""

from __future__ import annotations

import asyncio
import json
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from arbiter.errors import InvalidRequest, TenantDenied
from arbiter.json_depth import MAX_JSON_NESTING, nests_deeper_than
from arbiter.principal import Principal
from arbiter.store.export import parse_time

JSON = "application/json"
_N = TypeVar("_N", int, float)


# The operator's JSON (spend, keys, policies, decisions) is never read as another type nor kept
# by a browser's or proxy's cache; the chat answers (the hot path) do without
API_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    merged = API_HEADERS if headers is None else {**API_HEADERS, **headers}
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=merged)


def list_page(rows: list[dict[str, Any]], limit: int, *, key: str = "id", **more: Any) -> Response:
    """A list endpoint's page: `rows` were fetched `limit + 1` (the one past the page says
    `has_more`); `more` fields follow its data, then `last_id` (its last row's `key`)."""
    data = rows[:limit]
    return json_response({
        "object": "list", "data": data, **more,
        "last_id": data[-1][key] if data else None, "has_more": len(rows) > limit,
    })  # fmt: skip


def no_cursor(what: str, after: str) -> InvalidRequest:
    """An `after` naming no `what` (cut: the cursor is the caller's, up to the URL's size)."""
    return InvalidRequest(f"'after' names no {what}: {after[:64]!r}.", param="after")


_LATIN1 = operator.methodcaller("encode", "latin-1")


class JsonAnswer(Response):
    """A model answer's JSON with its headers (a dict of str): the raw header lines built by
    maps in C, not Starlette's Python comprehensions over them (a chat answer carries about
    twelve; ~200 bytecode instructions a request: bench/results/scale.md, diet22). The lines,
    their order and the added content-length and content-type are Starlette's."""

    media_type = JSON

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        if not headers or type(headers) is not dict or self.media_type != JSON:
            super().init_headers(headers)  # (only a dict's lines are built here)
            return
        names = list(map(_LATIN1, map(str.lower, headers.keys())))
        raw = list(zip(names, map(_LATIN1, headers.values()), strict=True))
        if b"content-length" not in names and not (
            self.status_code < 200 or self.status_code in (204, 304)
        ):
            raw.append((b"content-length", b"%d" % len(self.body)))
        if b"content-type" not in names:
            raw.append((b"content-type", JSON_LINE))
        self.raw_headers = raw

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = self.body
        if len(body) <= PIECE_BYTES or self.background is not None:
            await super().__call__(scope, receive, send)
            return
        # a large answer goes in pieces: the server waits for the client to take each before
        # the next, so the write returns once the client has (nearly) all of it, and the
        # answer's share of answer_bytes.py's budget is given back then, not at a buffered write
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})  # fmt: skip
        last = len(body) - PIECE_BYTES
        for at in range(0, len(body), PIECE_BYTES):
            piece = body[at : at + PIECE_BYTES]
            await send({"type": "http.response.body", "body": piece, "more_body": at < last})
            # a step's writes leave at its end (step_writes.py): let this piece go, so the
            # transport's flow control can pause the next send until the client takes it
            await asyncio.sleep(0)


JSON_LINE = JSON.encode("latin-1")
# a whole answer longer than this is written in pieces of this size (JsonAnswer.__call__)
PIECE_BYTES = 1 << 20


def json_object(raw: bytes) -> dict[str, Any]:
    """The body of one of Arbiter's own endpoints (the admin writes, feedback) as an object. A
    key named twice in one object is the caller's 400 naming it: orjson (as Python's json) keeps
    the last one silently, so `{"tenant": "a", ..., "tenant": "b"}` made a key for `b` when the
    script's author read `a` first. (The model surfaces keep orjson's last-wins: their hot path
    pays for no second parse.)"""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(f"The body is not valid JSON ({err.msg} at byte {err.pos}).") from err
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    _no_key_twice(raw)
    return body


def _no_key_twice(raw: bytes) -> None:
    """Refuse a body (valid JSON, at most the endpoint's 64 KiB) with a key twice in one object:
    orjson cannot tell, so the stdlib parser reads it again with a hook that sees every pair.
    Its recursion is bounded first (a linear scan), far below the interpreter's limit."""
    if nests_deeper_than(raw, MAX_JSON_NESTING):
        raise InvalidRequest(f"The body nests more than {MAX_JSON_NESTING} levels deep.")
    try:
        json.loads(raw, object_pairs_hook=_pairs_once)
    except ValueError as err:  # what orjson read but the stdlib does not (no known case)
        raise InvalidRequest(f"The body is not valid JSON ({err}).") from err


def _pairs_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            shown = key if len(key) <= 64 else key[:64] + "..."  # a key is any client text
            raise InvalidRequest(
                f"The body names {shown!r} twice in one object: give each field once.",
                param=shown,
            )
        out[key] = value
    return out


def read_scope(request: Request, principal: Principal) -> str | None:
    """The tenant a read covers: the caller's own; for the admin and dashboard keys every tenant
    (None), or the one named by `?tenant=`. A tenant's key naming another tenant is a 403: it
    was read as its own, so a script asking for tenant B's spend was shown A's as if B's."""
    asked = request.query_params.get("tenant") or None
    if principal.sees_all:
        return asked
    if asked is not None and asked != principal.tenant:
        raise TenantDenied(
            f"This key reads only its own tenant's data ('{principal.tenant}'); "
            "another tenant's needs the admin or dashboard key.",
            param="tenant",
        )
    return principal.tenant


class QuickHeaders(Headers):
    """Starlette's request headers, read through a dict of each name's first value: a chat
    request asks for about sixteen headers (keys, SLOs, tests, hints, cache directives,
    encoding, request id), mostly absent, and each Starlette lookup scanned every line (and
    `get` raised and caught a KeyError for an absent one). The dict is built at the first
    lookup from the lines as they arrived (ASGI gives a request's headers once; nothing
    changes them after); `getlist` scans the lines only for a name that is present."""

    _first: dict[bytes, bytes] | None = None

    def _firsts(self) -> dict[bytes, bytes]:
        first = self._first
        if first is None:  # reversed: a repeated name keeps its first value
            first = self._first = dict(reversed(self._list))
        return first

    def get(self, key: str, default: Any = None) -> Any:
        first = self._first  # (_firsts inlined: the lookup a request makes most)
        if first is None:
            first = self._first = dict(reversed(self._list))
        value = first.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def getlist(self, key: str) -> list[str]:
        wanted = key.lower().encode("latin-1")
        if wanted not in self._firsts():
            return []
        return [v.decode("latin-1") for name, v in self._list if name == wanted]

    def __getitem__(self, key: str) -> str:
        value = self._firsts().get(key.lower().encode("latin-1"))
        if value is None:
            raise KeyError(key)
        return value.decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return key.lower().encode("latin-1") in self._firsts()


def quick_headers(request: Request) -> None:
    """Give `request` QuickHeaders (before anything read its headers)."""
    request._headers = QuickHeaders(scope=request.scope)


def check_params(request: Request) -> None:
    """No path or query parameter may hold a NUL: PostgreSQL text cannot store or even compare
    one, so it would fail as a store error instead of the client's mistake."""
    scope = request.scope
    if not scope.get("path_params") and not scope.get("query_string"):
        return  # the common case: nothing to parse (QueryParams costs a few µs per request)
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        no_nul(value, name)


def no_nul(value: Any, name: str) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise InvalidRequest(f"'{name}' must not contain NUL characters.", param=name)


def _parsed(request: Request, name: str, parse: Callable[[str], _N], what: str) -> _N | None:
    """Query parameter `name` read by `parse` (None when absent); a ValueError is the client's
    400 saying `name` must be `what`."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError as err:
        raise InvalidRequest(f"'{name}' must be {what}.", param=name) from err


def float_param(request: Request, name: str) -> float | None:
    value = _parsed(request, name, float, "a number")
    if value is not None and not math.isfinite(value):
        raise InvalidRequest(f"'{name}' must be a finite number.", param=name)
    return value


def time_param(request: Request, name: str, default: float) -> float:
    what = "unix seconds, an ISO-8601 date/time or an age like 24h"
    value = _parsed(request, name, parse_time, what)
    return default if value is None else value


def time_range(request: Request, default_since: float, default_until: float) -> tuple[float, float]:
    """`since` and `until` (time_param's forms): a range whose `since` comes after its `until`
    is the caller's 400 naming both, never an empty answer that reads as "no traffic"."""
    since = time_param(request, "since", default_since)
    until = time_param(request, "until", default_until)
    if since > until:
        raise InvalidRequest(
            f"'since' ({since:.0f}) is after 'until' ({until:.0f}): give 'since' at or before "
            "'until' (an omitted 'since' is an hour before now, 'until' a minute after).",
            param="since",
        )
    return since, until


def only_params(request: Request, *names: str) -> None:
    """A read endpoint's query takes `names` and `tenant` (the dashboard adds it to every read):
    any other parameter is the caller's 400, never ignored (`/arbiter/stats?since=24h` answered
    the all-time figures as if they were the last day's). Nor may one be given twice: read
    last-wins, `?tenant=B&tenant=A` with A's key answered A's data to a script asking for B's,
    and `?limit=5000&limit=1` passed the range check (a JSON body's repeated key is a 400 too)."""
    if not request.scope.get("query_string"):
        return
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name != "tenant" and name not in names:
            known = ", ".join(sorted({"tenant", *names}))
            raise InvalidRequest(
                f"Unknown query parameter '{name}' (this endpoint takes: {known}).", param=name
            )
        if name in seen:
            raise InvalidRequest(
                f"The query gives '{name}' twice: give each parameter once.", param=name
            )
        seen.add(name)


def _decimal(raw: str) -> int:
    """ASCII digits with an optional minus sign. int() also reads other scripts' digits (`٣`),
    fullwidth ones, `1_000`, spaces around and a plus sign: each was taken as the number."""
    digits = raw[1:] if raw.startswith("-") else raw
    if not (0 < len(digits) <= 19 and digits.isascii() and digits.isdigit()):
        raise ValueError(raw)
    return int(raw)


def int_param(request: Request, name: str, default: int, lo: int, hi: int, *, step: int = 1) -> int:
    """An integer in [lo, hi] (a multiple of `step`): one out of range is the caller's 400,
    never clamped in silence (a script asking for 10,000 rows got 1,000 and no word of it)."""
    what = f"an integer from {lo} to {hi}" + (f", a multiple of {step}" if step > 1 else "")
    value = _parsed(request, name, _decimal, what)  # "1.5" or "ten": the range is named too
    if value is None:
        return default
    if not lo <= value <= hi or value % step:
        raise InvalidRequest(f"'{name}' must be {what}; got {value}.", param=name)
    return value
