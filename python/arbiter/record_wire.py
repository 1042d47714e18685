"""A record as compact bytes, for the recorder's writer process (writer_process.py).

With `store.writer = "process"` the request path packs each record as it submits it (a few us,
spread evenly over the requests), so the serving process's writer thread only joins bytes and
hands them down a pipe: no per-record Python there that holds the event loop's GIL in runs of a
whole batch. The child unpacks them and builds the rows.

marshal, not JSON or pickle: it carries every value a record holds exactly (floats with NaN and
infinities, ints apart from floats, tuples, None), is implemented in C, and packs a decision in
about half the time `encode_rows` + pickle took per decision in the writer thread (a decision:
~270 bytes). Its format is private to one Python version: the child is started with the
parent's own interpreter. A record marshal cannot carry (an object of another type in an
alert's `data`, a str subclass) is not packed: `pack` returns None and the record travels as
itself (pickled with its batch), so nothing is refused here that the store would take.
"""

from __future__ import annotations

import marshal
from dataclasses import fields
from operator import attrgetter
from typing import Any

from arbiter.records import (
    AlertRecord,
    Attempt,
    Candidate,
    DecisionRecord,
    GradeRecord,
    PolicyDelta,
    Record,
)

_TYPES: tuple[type[Any], ...] = (DecisionRecord, GradeRecord, AlertRecord, PolicyDelta)
_KIND = {cls: i for i, cls in enumerate(_TYPES)}
_GET = tuple(attrgetter(*(f.name for f in fields(cls))) for cls in _TYPES)
_CANDIDATE = attrgetter(*(f.name for f in fields(Candidate)))
_ATTEMPT = attrgetter(*(f.name for f in fields(Attempt)))
# where a decision's nested tuples sit among its fields
_CANDIDATES = [f.name for f in fields(DecisionRecord)].index("candidates")
_ATTEMPTS = [f.name for f in fields(DecisionRecord)].index("attempts")
assert _ATTEMPTS == _CANDIDATES + 1


def pack(record: Record) -> bytes | None:
    """The record's bytes; None when marshal cannot carry one of its values."""
    kind = _KIND.get(type(record))
    if kind is None:
        return None
    try:
        values = _GET[kind](record)
        if kind == 0:  # a decision: its candidates and attempts as plain tuples
            d: DecisionRecord = record  # type: ignore[assignment]
            nested = (tuple(map(_CANDIDATE, d.candidates)), tuple(map(_ATTEMPT, d.attempts)))
            return marshal.dumps((0, values[:_CANDIDATES], nested, values[_ATTEMPTS + 1 :]))
        return marshal.dumps((kind, values))
    except (ValueError, TypeError, AttributeError):  # unmarshallable, or a malformed field
        return None


def unpack(data: bytes) -> Record:
    """The record `pack` turned into `data`."""
    head = marshal.loads(data)  # our own parent's bytes, over a private pipe
    if head[0] == 0:
        _, before, (candidates, attempts), after = head
        cls: type[Any] = DecisionRecord  # built from its fields in order
        return cls(  # type: ignore[no-any-return]
            *before,
            tuple(Candidate(*c) for c in candidates),
            tuple(Attempt(*a) for a in attempts),
            *after,
        )
    record: Record = _TYPES[head[0]](*head[1])
    return record


def kind_name(item: Record | bytes) -> str:
    """The record type's name of a record or of its packed bytes (for log lines)."""
    if isinstance(item, bytes):
        try:
            name: str = _TYPES[marshal.loads(item)[0]].__name__
            return name
        except (ValueError, EOFError, TypeError, IndexError):
            return "undecodable"
    return type(item).__name__
