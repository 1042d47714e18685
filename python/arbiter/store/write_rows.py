"""Records as the rows the store's statements bind (store/_sql.py writes them): plain values
only, the JSON columns serialised, policy deltas merged per arm. Built by the recorder's writer,
or by the writer process's child (writer_process.py) from the records it was handed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, field
from typing import Any

import orjson

from arbiter.records import AlertRecord, DecisionRecord, GradeRecord, PolicyDelta, Record


def json_text(value: Any) -> str:
    """A JSON column's text (anything orjson cannot encode as its `str`)."""
    return orjson.dumps(value, default=str).decode()


def merge_deltas(deltas: Iterable[PolicyDelta]) -> list[PolicyDelta]:
    """One delta per arm (sums), sorted by arm so concurrent writers lock rows in one order."""
    acc: dict[tuple[str, str, str], PolicyDelta] = {}
    for d in deltas:
        key = (d.tenant, d.task, d.model)
        old = acc.get(key)
        acc[key] = d if old is None else old.plus(d)
    return [d for _, d in sorted(acc.items())]


@dataclass(frozen=True, slots=True)
class WriteRows:
    """A batch of records as the rows its statements bind: plain values only (the JSON columns
    already serialised). `ts`: when it was encoded (the batch id's and the arms' timestamp)."""

    decisions: list[tuple[Any, ...]]  # _DCOLS
    grades: list[tuple[Any, ...]]  # _GCOLS
    alerts: list[tuple[Any, ...]]  # _ACOLS
    arms: list[tuple[Any, ...]]  # _ARM_COLS + updated_ts, one per arm, sorted
    ts: float
    # (row, window, by, value): alerts stored only when none of their kind and model (and
    # `data[by]` == value, when `by`) is in the window (AlertRecord.once_every_s, once_by)
    alerts_once: list[tuple[tuple[Any, ...], float, str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.decisions or self.grades or self.alerts or self.arms or self.alerts_once)


def encode_rows(records: Sequence[Record], now: float | None = None) -> WriteRows:
    """`records` as rows; `now`: their timestamp (a writer process gets the sender's)."""
    now = time.time() if now is None else now
    deltas = merge_deltas(r for r in records if isinstance(r, PolicyDelta))
    return WriteRows(
        [decision_row(r) for r in records if isinstance(r, DecisionRecord)],
        [grade_row(r) for r in records if isinstance(r, GradeRecord)],
        [_alert_row(r) for r in records if isinstance(r, AlertRecord) and r.once_every_s <= 0],
        [(*astuple(d), now) for d in deltas],
        now,
        [
            (_alert_row(r), r.once_every_s, r.once_by, _once_value(r))
            for r in records
            if isinstance(r, AlertRecord) and r.once_every_s > 0
        ],
    )


def decision_row(d: DecisionRecord) -> tuple[Any, ...]:
    """A decision's row: from the record, or from anything with its field names as attributes
    (record_wire's views of packed bytes: the JSON columns then hold plain dicts)."""
    return (
        d.id, d.ts, d.tenant, d.task, d.mode, d.chosen_model, d.reason,
        json_text(d.candidates), json_text(d.attempts), d.status, d.cost_usd, d.baseline_model,
        d.baseline_cost_usd, d.latency_ms, d.prompt_tokens, d.completion_tokens, d.stream,
        d.difficulty, d.key_id, d.error, d.cost_source, d.cache_kind, d.cache_saved_usd,
        json_text(d.cache_info) if d.cache_info is not None else None, d.usage_cost_usd,
    )  # fmt: skip


def grade_row(g: GradeRecord) -> tuple[Any, ...]:
    return (g.decision_id, g.grader, g.ts, g.tenant, g.task, g.model, g.score, g.detail)


def _once_value(a: AlertRecord) -> str:
    value = a.data.get(a.once_by) if a.once_by else None
    return value if isinstance(value, str) else ""


def _alert_row(a: AlertRecord) -> tuple[Any, ...]:
    return (a.id, a.ts, a.tenant, a.kind, a.message, a.model, a.task, json_text(a.data))
