"""record_wire: a record as the bytes the request path hands to the writer process, and back,
exactly (every field, every type a record holds)."""

from __future__ import annotations

import math

import pytest

from arbiter import record_wire
from arbiter.records import (
    AlertRecord,
    Attempt,
    Candidate,
    DecisionRecord,
    GradeRecord,
    PolicyDelta,
    Record,
)


def _decision(**over: object) -> DecisionRecord:
    base: dict[str, object] = dict(
        id="d1", ts=1765000000.123456, tenant="t1", task="qa", mode="cache",
        chosen_model="small", reason="cheapest above target",
        candidates=(Candidate("small", 0.81, 0.8, 0.001),
                    Candidate("big", 0.9, 0.92, 0.01, eligible=False, why_not="too dear")),
        attempts=(Attempt("big", False, 12.5, "upstream_timeout", 504),
                  Attempt("small", True, 100.0, None, None, ttft_ms=40.25)),
        status="ok", cost_usd=0.001, baseline_model="big", baseline_cost_usd=0.01,
        latency_ms=112.5, prompt_tokens=120, completion_tokens=40, stream=True,
        difficulty=0.25, key_id="k1", error=None, cost_source="upstream", cache_kind="semantic",
        cache_saved_usd=0.002,
        cache_info={"entry_id": "e1", "similarity": 0.97, "nested": [1, {"a": None}]},
    )  # fmt: skip
    base.update(over)
    return DecisionRecord(**base)  # type: ignore[arg-type]


RECORDS: list[Record] = [
    _decision(),
    _decision(
        candidates=(),
        attempts=(),
        difficulty=None,
        key_id=None,
        cache_kind=None,
        cache_saved_usd=None,
        cache_info=None,
        mode="routed",
    ),
    GradeRecord("d1", 1765000001.5, "t1", "qa", "small", 0.75, "judge", "8/10", mode="shadow"),
    AlertRecord("a1", 1.0, "_system", "store_backlog", "store down", data={"backlog": 12}),
    AlertRecord("a2", 2.0, "t1", "price_change", "up", model="m", task="qa"),
    PolicyDelta("t1", "qa", "small", 1.0, 0.0, 1.0, 0.5, 2.0, -0.25, 3.0, 0.125),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_comes_back_equal(record: Record) -> None:
    packed = record_wire.pack(record)
    assert isinstance(packed, bytes)
    back = record_wire.unpack(packed)
    assert back == record and type(back) is type(record)
    assert record_wire.kind_name(packed) == type(record).__name__


def test_values_json_would_change_come_back_as_they_were() -> None:
    """NaN and infinities (JSON has none), ints apart from floats, tuples apart from lists."""
    d = _decision(cost_usd=math.inf, baseline_cost_usd=-math.inf, latency_ms=math.nan,
                  prompt_tokens=7, cache_info={"t": (1, 2), "n": 3, "f": 3.0})  # fmt: skip
    back = record_wire.unpack(record_wire.pack(d) or b"")
    assert isinstance(back, DecisionRecord)
    assert back.cost_usd == math.inf and back.baseline_cost_usd == -math.inf
    assert math.isnan(back.latency_ms)
    assert type(back.prompt_tokens) is int
    assert back.cache_info == {"t": (1, 2), "n": 3, "f": 3.0}
    assert type(back.cache_info["t"]) is tuple and type(back.cache_info["n"]) is int
    assert type(back.candidates[0]) is Candidate and type(back.attempts[1]) is Attempt


def test_a_value_marshal_cannot_carry_is_not_packed() -> None:
    """The record then travels as itself (the writer pickles it): never refused here."""

    class Opaque:
        pass

    assert record_wire.pack(AlertRecord("a", 1.0, "t", "k", "m", data={"x": Opaque()})) is None
    assert record_wire.pack(_decision(candidates=(object(),))) is None
    assert record_wire.kind_name(AlertRecord("a", 1.0, "t", "k", "m")) == "AlertRecord"
    assert record_wire.kind_name(b"not marshal") == "undecodable"


def _same(a: object, b: object) -> bool:
    """Equal, NaN included (a NaN unpacked is another float object: == alone says no)."""
    return repr(a) == repr(b)


def test_the_child_builds_the_rows_encode_rows_builds_straight_from_the_bytes() -> None:
    """The writer child's rows (record_wire.encode) equal encode_rows' from the records
    themselves: every column, the JSON text of candidates, attempts and cache_info included,
    with packed and unpacked items mixed in one batch, each kind in its records' order."""
    from arbiter.store.write_rows import encode_rows

    odd = _decision(id="d9", cost_usd=math.inf, latency_ms=math.nan, cache_info={"t": (1, 2)})
    records: list[Record] = [*RECORDS, odd, _decision(id="d3", mode="routed")]
    records.append(GradeRecord("d3", 5.0, "t1", "qa", "small", 1.0, "auto"))
    records.append(PolicyDelta("t1", "qa", "small", 1.0, 1.0, 1.0))  # merged with the one above
    items: list[Record | bytes] = [record_wire.pack(r) or r for r in records]
    items[0] = records[0]  # a decision that travels as itself, between packed ones
    want = encode_rows(records, now=123.5)
    got = record_wire.encode(items, now=123.5)
    assert _same(got, want)
    assert [row[0] for row in got.decisions] == ["d1", "d1", "d9", "d3"]
    assert len(got.grades) == 2 and len(got.alerts) == 2 and len(got.arms) == 1


def test_the_child_rebuilds_no_record_for_a_packed_decision_or_grade(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rebuilding a frozen dataclass (a decision, its candidates, its grade) cost the child
    10-18 us a request, twice what building its rows did."""
    items = [record_wire.pack(RECORDS[0]), record_wire.pack(RECORDS[2])]

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("a record was rebuilt")

    for cls in (DecisionRecord, GradeRecord, Candidate, Attempt):
        monkeypatch.setattr(cls, "__init__", refuse)
    rows = record_wire.encode([i for i in items if i is not None], now=1.0)
    assert len(rows.decisions) == 1 and len(rows.grades) == 1
