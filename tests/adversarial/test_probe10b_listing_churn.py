"""Outside probe (tenth session): an upstream whose listing names new models on every poll.

A model that leaves a discovering upstream's listing is kept in the store (present = 0), so a
request already on it finishes and a return is seen as one. Nothing ever dropped those rows: an
upstream listing 10,000 fresh ids per poll (a hostile one, or one that names dated snapshots)
grew `discovered_models` and every replica's registry, which reads all rows, without bound, and
each poll read them all again. The models gone longest are now dropped past
MAX_ABSENT_PER_UPSTREAM (10,000) per upstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.store import discovered, open_store
from tests.pg import empty_store_url

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_models_gone_from_a_churning_listing_are_bounded(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovered, "MAX_ABSENT_PER_UPSTREAM", 5, raising=False)
    with empty_store_url(backend, tmp_path / "arbiter.db") as url:
        store = open_store(url)
        try:
            store.migrate()
            store.record_listing("steady", {"keep-me": {}}, 1.0)
            store.record_listing("steady", {}, 2.0)  # gone, another upstream's churn aside
            for poll in range(6):  # four fresh ids per poll; the last poll lists nothing
                listed = {f"m{poll}-{i}": {} for i in range(4)} if poll < 5 else {}
                store.record_listing("churn", listed, 10.0 + poll)
            rows = [r for r in store.discovered_models() if r.upstream == "churn"]
            assert len(rows) == 5 and not any(r.present for r in rows)
            # the most recently gone stay (they may come back): the last poll's listing
            assert {r.model for r in rows} >= {f"m4-{i}" for i in range(4)}
            steady = [r.model for r in store.discovered_models() if r.upstream == "steady"]
            assert steady == ["keep-me"]
            back = store.record_listing("churn", {"m4-0": {}}, 20.0)
            assert back.back == ["m4-0"]
        finally:
            store.close()
