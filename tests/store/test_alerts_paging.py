"""/arbiter/alerts pages like /arbiter/decisions: `after_id`, the previous page's last row,
keyset on (ts, id), so rows sharing a timestamp are neither skipped nor repeated at a page
edge; a cursor the caller may not read (another tenant's alert) is no cursor. Before, only the
newest `limit` (at most 1,000) could be read: the dashboard showed the newest 200 and no more."""

from __future__ import annotations

import pytest

from arbiter.records import SYSTEM_TENANT, AlertRecord
from arbiter.store import NoSuchCursor, Store


def test_alerts_page_back_through_equal_timestamps(store: Store) -> None:
    # 25 alerts of t1 on 5 timestamps, one of t2 and one of the operator's among them
    t1 = [AlertRecord(f"a{i:02d}", float(i // 5), "t1", "quality_drop", "m") for i in range(25)]
    store.write([
        *t1,
        AlertRecord("other", 2.0, "t2", "quality_drop", "t2's"),
        AlertRecord("op", 3.0, SYSTEM_TENANT, "circuit_open", "m down"),
    ])  # fmt: skip
    newest_first = sorted((f"a{i:02d}" for i in range(25)), key=lambda a: (int(a[1:]) // 5, a))
    newest_first.reverse()
    pages: list[list[str]] = []
    after = None
    while True:
        rows = store.alerts(tenant="t1", limit=7, after_id=after)
        if not rows:
            break
        pages.append([r["id"] for r in rows])
        after = rows[-1]["id"]
    assert [a for p in pages for a in p] == newest_first
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    # the operator's alert pages in next to the tenant's when asked for
    both = [r["id"] for r in store.alerts(tenant="t1", limit=100, operator=True, after_id="a20")]
    assert both == ["op", *newest_first[5:]]  # "op" at ts 3 sorts before "a19" (id descending)
    alone = [r["id"] for r in store.alerts(tenant="t1", limit=100, after_id="a20")]
    assert alone == newest_first[5:]
    every = [r["id"] for r in store.alerts(tenant=None, limit=100, after_id="a20")]
    assert "other" in every and "a20" not in every


def test_a_cursor_the_caller_may_not_read_is_no_cursor(store: Store) -> None:
    store.write([
        AlertRecord("mine", 1.0, "t1", "quality_drop", "t1's"),
        AlertRecord("theirs", 2.0, "t2", "quality_drop", "t2's"),
        AlertRecord("op", 3.0, SYSTEM_TENANT, "circuit_open", "m down"),
    ])  # fmt: skip
    for tenant, operator, cursor in (
        ("t1", False, "theirs"),
        ("t1", False, "op"),
        ("t1", False, "nope"),
    ):
        with pytest.raises(NoSuchCursor):
            store.alerts(tenant=tenant, limit=10, operator=operator, after_id=cursor)
    assert store.alerts(tenant="t1", limit=10, operator=True, after_id="op")[0]["id"] == "mine"
    assert [r["id"] for r in store.alerts(tenant=None, limit=10, after_id="theirs")] == ["mine"]
