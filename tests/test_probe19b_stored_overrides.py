"""probe19b: a model's stored registry override that is not a JSON object, or one the admin API
would refuse (a price that is text, a field this version does not know: a hand edit, a newer
replica's field in a rolling upgrade), failed every replica's registry refresh: `serve` could not
start (a traceback from its start-up) and running replicas stopped adopting any override. Such a
row is now ignored, logged once, and every other model's override still applies. Both stores."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.inproc import sidecar_in_process
from tests.pg import empty_store_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _write_rows(url: str, rows: list[tuple[str, str]]) -> None:
    sql = "INSERT INTO registry_overrides (model, patch, updated_ts) VALUES (%s, %s, 1.0)"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.executemany(sql.replace("%s", "?"), rows)
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            for row in rows:
                conn.execute(sql, row)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_damaged_override_is_ignored_and_the_rest_apply(
    tmp_path: Path, backend: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arbiter import state_sync
    from arbiter.store import accounts, open_store

    # each is logged once per process: this test's own process-wide memory of it
    monkeypatch.setattr(accounts, "_UNREADABLE", set(), raising=False)
    monkeypatch.setattr(state_sync, "_IGNORED_OVERRIDES", set(), raising=False)

    with empty_store_url(backend, tmp_path / "arbiter.db") as url:
        store = open_store(url)
        store.migrate()
        store.close()
        _write_rows(url, [
            ("sim-tiny", "{not json"),
            ("sim-small", '{"price_in_per_mtok": "cheap"}'),
            ("sim-medium", '{"context_window": 4096, "a_field_from_a_newer_version": 1}'),
            ("sim-premium", '{"price_in_per_mtok": 7.25}'),
        ])  # fmt: skip

        async def main() -> None:
            async with sidecar_in_process(tmp_path, store_url=url) as sc:
                r = await sc.client.get("/arbiter/admin/models", headers=sc.admin)
                assert r.status_code == 200, r.text
                models = {m["name"]: m for m in r.json()["data"]}
                assert models["sim-premium"]["price_in_per_mtok"] == 7.25  # the good one applied
                configured = sc.services.settings.models
                for name in ("sim-tiny", "sim-small", "sim-medium"):
                    assert models[name]["price_in_per_mtok"] == configured[name].price_in_per_mtok
                assert (
                    models["sim-medium"]["context_window"]
                    == configured["sim-medium"].context_window
                )
                # routing still answers
                r = await sc.client.post(
                    "/v1/chat/completions",
                    json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
                    headers=sc.auth,
                )
                assert r.status_code == 200, r.text
                # and an admin patch of a damaged model replaces it with a good one
                r = await sc.client.patch(
                    "/arbiter/admin/models/sim-small", json={"price_in_per_mtok": 0.5},
                    headers=sc.admin,
                )  # fmt: skip
                assert r.status_code == 200, r.text

        with caplog.at_level(logging.WARNING):
            asyncio.run(main())
        assert "override of model 'sim-tiny' is not a JSON object" in caplog.text
        assert "override of 'sim-small' is ignored" in caplog.text
        assert "override of 'sim-medium' is ignored" in caplog.text
