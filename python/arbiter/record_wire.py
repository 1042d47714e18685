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
import time
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any, cast

from arbiter.records import (
    AlertRecord,
    Attempt,
    Candidate,
    DecisionRecord,
    GradeRecord,
    PolicyDelta,
    Record,
)
from arbiter.store.write_rows import WriteRows, decision_row, encode_rows, grade_row

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


# What the child reads a packed decision or grade as (encode): a tuple with the record's field
# names, no dataclass built. A frozen dataclass sets each field through object.__setattr__:
# rebuilding a decision, its candidates and attempts and its grade took 10-18 us a request,
# twice what building their rows did (bench/results/scale.md, nineteenth session).
_view: Any = namedtuple  # field names known only at run time (mypy cannot type these)
_DecisionView: Any = _view("_DecisionView", [f.name for f in fields(DecisionRecord)])
_GradeView: Any = _view("_GradeView", [f.name for f in fields(GradeRecord)])
_CANDIDATE_NAMES = tuple(f.name for f in fields(Candidate))
_ATTEMPT_NAMES = tuple(f.name for f in fields(Attempt))


def encode(items: Sequence[Record | bytes], now: float | None = None) -> WriteRows:
    """The rows of `items` (packed or not), as `encode_rows` builds them from the records
    themselves (the same values and JSON text: a candidate or attempt becomes the dict orjson
    writes for its dataclass), without rebuilding the packed decisions and grades."""
    now = time.time() if now is None else now
    others: list[Record] = []
    decisions: list[tuple[Any, ...]] = []
    grades: list[tuple[Any, ...]] = []
    for item in items:  # each kind's rows in the order of its records, as encode_rows
        if isinstance(item, DecisionRecord):  # a record marshal could not carry
            decisions.append(decision_row(item))
            continue
        if isinstance(item, GradeRecord):
            grades.append(grade_row(item))
            continue
        if not isinstance(item, bytes):  # alerts and policy deltas
            others.append(item)
            continue
        head = marshal.loads(item)  # our own parent's bytes, over a private pipe
        if head[0] == 0:
            _, before, (candidates, attempts), after = head
            view = _DecisionView(
                *before,
                tuple(dict(zip(_CANDIDATE_NAMES, c, strict=True)) for c in candidates),
                tuple(dict(zip(_ATTEMPT_NAMES, a, strict=True)) for a in attempts),
                *after,
            )
            decisions.append(decision_row(cast(DecisionRecord, view)))
        elif head[0] == 1:
            grades.append(grade_row(cast(GradeRecord, _GradeView(*head[1]))))
        else:
            others.append(unpack(item))
    rest = encode_rows(others, now)  # alerts and the merged deltas
    return WriteRows(decisions, grades, rest.alerts, rest.arms, now, rest.alerts_once)


def kind_name(item: Record | bytes) -> str:
    """The record type's name of a record or of its packed bytes (for log lines)."""
    if isinstance(item, bytes):
        try:
            name: str = _TYPES[marshal.loads(item)[0]].__name__
            return name
        except (ValueError, EOFError, TypeError, IndexError):
            return "undecodable"
    return type(item).__name__
