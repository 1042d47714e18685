"""A store at a schema newer than this code knows (a newer release migrated it, then this one
was started against it) is warned about: `serve` migrates twice in one process (before it
listens, preflight.migrated_problem, and as the app starts, Services.load_state), and the
warning was logged twice. Once a process now."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from arbiter.preflight import migrated_problem
from arbiter.store import open_store


def test_a_newer_schema_is_warned_once_a_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = open_store(url)
    try:
        version = store.migrate()
        with store._tx() as cur:  # a newer release's migration
            cur.execute("INSERT INTO schema_version VALUES (?, 0)", (version + 1,))
    finally:
        store.close()
    with caplog.at_level(logging.WARNING, logger="arbiter.store"):
        assert migrated_problem(url) is None  # serve, before it listens
        again = open_store(url)
        try:
            assert again.migrate() == version + 1  # the app's start-up
        finally:
            again.close()
    newer = [r for r in caplog.records if "newer than this code knows" in r.getMessage()]
    assert len(newer) == 1, [r.getMessage() for r in newer]
