"""A cache entry as the store's row and back (store/cache_entries.py holds the rows)."""

from __future__ import annotations

from typing import Any

import orjson

from arbiter.cache.answer import Entry, dump_answer, load_answer

# Entry.earlier_usd rides in the answer's JSON (no column of its own: rows written before it,
# and replicas reading rows written after, see none and read 0, the old saving)
_EARLIER = "earlier_usd"


def _answer_text(e: Entry) -> str:
    text = dump_answer(e.answer)
    if not e.earlier_usd:
        return text
    return orjson.dumps({**orjson.loads(text), _EARLIER: e.earlier_usd}).decode()


def _earlier(answer: str | bytes) -> float:
    raw = answer.encode() if isinstance(answer, str) else answer
    if _EARLIER.encode() not in raw:  # the common case: no cascade before it, no second parse
        return 0.0
    value = orjson.loads(raw).get(_EARLIER, 0.0)
    return float(value) if isinstance(value, (int, float)) and value > 0 else 0.0


def to_row(e: Entry) -> tuple[Any, ...]:
    # PostgreSQL text cannot hold NUL (the client's own text may): U+FFFD, which the semantic
    # side never embeds either (semantic.embeddable), so a replica reading it back matches alike
    text = e.text.replace("\x00", "\ufffd") if e.text is not None else None
    return (
        e.id, e.tenant, e.context_key, e.model, e.task, _answer_text(e), e.cost_usd,
        e.decision_id, e.created_ts, e.expires_ts, e.created_ts, e.hits, text, e.embedding,
    )  # fmt: skip


def from_row(row: tuple[Any, ...]) -> Entry:
    (entry_id, tenant, context_key, model, task, answer, cost, decision_id, created, expires,
     _used, hits, text, embedding) = row  # fmt: skip
    return Entry(
        entry_id, tenant, entry_id, context_key, model, task, load_answer(answer), float(cost),
        decision_id, float(created), float(expires), int(hits), text,
        bytes(embedding) if embedding is not None else None, earlier_usd=_earlier(answer),
    )  # fmt: skip
