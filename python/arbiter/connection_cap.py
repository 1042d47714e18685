"""A process's client connections bounded (`server.max_connections`).

Without a bound, idle keep-alive connections cost ~13 KB and a descriptor each for
`keep_alive_s`: 20,000 clients idle after one request held ~260 MB and every descriptor
(bench/results/dos25.md). uvicorn's own `limit_concurrency` would answer 503 to every new
request while the idle ones stayed, so a crowd of idle clients would shut everyone else out.

Here a connection that takes the count past the bound first makes room: the idle keep-alive
connections that went idle first are closed (a server may close an idle connection at any
time, RFC 9112 9.3; clients open another), down to `EVICT_TO` of the bound so the scan is not
paid per connection. Only when no idle one is left (every connection is reading a request or
waiting for its answer) is the newcomer refused: its first request gets a 503 in its surface's
shape, `x-should-retry: true`, and the connection closes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from arbiter.errors import ArbiterError

DEFAULT_MAX_CONNECTIONS = 4096
# making room closes idle connections down to this share of the bound (one scan per batch)
EVICT_TO = 0.9


class TooManyConnections(ArbiterError):
    status = 503
    code = "too_many_connections"
    type = "server_error"


def refusal(limit: int) -> TooManyConnections:
    return TooManyConnections(
        f"The server holds its most connections ({limit:,}, server.max_connections), every "
        "one of them busy: retry shortly."
    )


def make_room(connections: Collection[Any], limit: int) -> bool:
    """Whether the count is within `limit`, once the idle connections that went idle first
    (`idle_since()` not None: answered, nothing in progress) are closed as needed."""
    if len(connections) <= limit:
        return True
    # (a connection closed a moment ago leaves the set at its connection_lost, a loop step on)
    live = [c for c in connections if not c.transport.is_closing()]
    excess = len(live) - limit
    if excess <= 0:
        return True
    idle = [(since, c) for c in live if (since := c.idle_since()) is not None]
    if not idle:
        return False
    want = max(excess, len(live) - int(limit * EVICT_TO))
    idle.sort(key=lambda pair: pair[0])
    for _, conn in idle[:want]:
        conn.close_idle()
    return len(idle) >= excess
