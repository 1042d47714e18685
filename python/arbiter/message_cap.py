"""A request's count of messages (chat's and Messages' `messages`, Responses' `input` items)
bounded by `server.max_messages`, checked as soon as the body is parsed: past it the caller's
400 names the limit, before any per-message work. A body of 100,000 tiny messages (3 MB, under
a raised body limit) held the event loop ~300 ms with its checks, its token count and its
upstream encoding (bench/results/emb25.md, mem26.md); 10,000 is far above any conversation or
agent loop seen, and each request's per-message work stays ~1/10 of that.
"""

from __future__ import annotations

from arbiter.errors import InvalidRequest

DEFAULT_MAX_MESSAGES = 10_000


def check(body: object, key: str, limit: int) -> None:
    """The caller's 400 when `body[key]` is a list of more than `limit` items."""
    if not isinstance(body, dict):
        return
    items = body.get(key)
    if isinstance(items, list) and len(items) > limit:
        raise InvalidRequest(
            f"'{key}' holds {len(items):,} items; this server takes at most {limit:,} in one "
            "request (server.max_messages).",
            param=key,
        )
