"""A cache entry as the store's row and back (store/cache_entries.py holds the rows)."""

from __future__ import annotations

from typing import Any

from arbiter.cache.answer import Entry, dump_answer, load_answer


def to_row(e: Entry) -> tuple[Any, ...]:
    # PostgreSQL text cannot hold NUL (the client's own text may): U+FFFD, which the semantic
    # side never embeds either (semantic.embeddable), so a replica reading it back matches alike
    text = e.text.replace("\x00", "\ufffd") if e.text is not None else None
    return (
        e.id, e.tenant, e.context_key, e.model, e.task, dump_answer(e.answer), e.cost_usd,
        e.decision_id, e.created_ts, e.expires_ts, e.created_ts, e.hits, text, e.embedding,
    )  # fmt: skip


def from_row(row: tuple[Any, ...]) -> Entry:
    (entry_id, tenant, context_key, model, task, answer, cost, decision_id, created, expires,
     _used, hits, text, embedding) = row  # fmt: skip
    return Entry(
        entry_id, tenant, entry_id, context_key, model, task, load_answer(answer), float(cost),
        decision_id, float(created), float(expires), int(hits), text,
        bytes(embedding) if embedding is not None else None,
    )  # fmt: skip
