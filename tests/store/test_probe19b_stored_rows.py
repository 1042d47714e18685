"""probe19b: one stored row whose JSON cell is not JSON (a row edited by hand, a damaged file:
SQLite's text columns and both stores' `cache_info` take any text), or JSON of another kind
(PostgreSQL's JSONB takes `5` as well as a list), made every read that held it raise: the
decision feed's page, the decision's own view and `arbiter export` all failed (a 500 on the
dashboard, a traceback from the CLI), for one cell of one row. Now that cell reads as its kind's
empty value, logged once, and every other row and column is read as stored; the row itself is
left as it is.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable

import orjson
import psycopg
import pytest

from arbiter.records import AlertRecord
from arbiter.store import Store
from arbiter.store.export import export
from tests.store.conftest import decision


def _execute(store: Store, sql: str, *params: object) -> None:
    """Raw SQL on the store's database, outside Arbiter (as an operator's tool or a fault would)."""
    if store.url.startswith("sqlite:///"):
        with sqlite3.connect(store.url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql.replace("%s", "?"), params)
    else:
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(sql, params)  # type: ignore[arg-type]


def _damage(store: Store, bad: str, column: str, sqlite_text: str, pg_text: str) -> None:
    pg = not store.url.startswith("sqlite:///")
    cast = "::jsonb" if pg and column != "cache_info" else ""
    _execute(
        store,
        f"UPDATE decisions SET {column} = %s{cast} WHERE id = %s",
        pg_text if pg else sqlite_text,
        bad,
    )


@pytest.mark.parametrize(
    ("column", "sqlite_text", "pg_text", "empty"),
    [
        ("candidates", "[{", "5", []),
        ("attempts", "not json", '{"a": 1}', []),
        ("cache_info", "{", "{", None),
        ("cache_info", '"text"', '"text"', None),
    ],
)
def test_a_damaged_json_cell_is_read_as_empty_not_a_failure(
    store: Store,
    caplog: pytest.LogCaptureFixture,
    column: str,
    sqlite_text: str,
    pg_text: str,
    empty: object,
) -> None:
    now = time.time()
    bad_id = f"d-bad-{uuid.uuid4().hex[:8]}"  # the warning is logged once per row and process
    store.write([decision("d-old", ts=now - 2), decision(bad_id, ts=now - 1), decision("d-new")])
    _damage(store, bad_id, column, sqlite_text, pg_text)

    with caplog.at_level(logging.WARNING, logger="arbiter.store._sql"):
        feed = store.decisions(tenant=None, limit=10)
        one = store.decision(bad_id)
        out = io.StringIO()
        n = export(store, 0.0, "jsonl", out)

    assert [d["id"] for d in feed] == ["d-new", bad_id, "d-old"]
    bad = next(d for d in feed if d["id"] == bad_id)
    assert bad[column] == empty
    assert bad["chosen_model"] == "small" and bad["cost_usd"] == pytest.approx(0.001)
    assert one is not None and one[column] == empty
    # the other JSON cells of the same row are read as stored
    for other in {"candidates", "attempts"} - {column}:
        assert bad[other] and one[other] == bad[other]
    rows = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert n == 3 and [r["id"] for r in rows] == ["d-old", bad_id, "d-new"]
    assert rows[1][column] == empty
    assert f"{column} of {bad_id} is not" in caplog.text


def test_a_damaged_alert_cell_is_read_as_empty(
    open_: Callable[[], Store], caplog: pytest.LogCaptureFixture
) -> None:
    store = open_()
    now = time.time()
    ids = [f"al-{uuid.uuid4().hex[:8]}" for _ in range(2)]  # logged once per row and process
    store.write([AlertRecord(ids[i], now + i, "t1", "budget_threshold", "80% of the cap",
                             data={"i": i}) for i in range(2)])  # fmt: skip
    pg = not store.url.startswith("sqlite:///")
    _execute(store, f"UPDATE alerts SET data = %s{'::jsonb' if pg else ''} WHERE id = %s",
             "[1, 2]" if pg else "{", ids[0])  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="arbiter.store._sql"):
        alerts = store.alerts(tenant=None, limit=10)
    assert [(a["id"], a["data"]) for a in alerts] == [(ids[1], {"i": 1}), (ids[0], {})]
    assert f"alert data of {ids[0]} is not" in caplog.text
