"""`durability = "strict"` with the store down: a decision whose commit failed went to the
recorder's backlog, in memory, and the client got the 503; the call was made and billed, so the
decision is accepted work, but a hard kill (kill -9) before the store came back lost it for
ever. It is now appended to a spool file (decision_spool.py: beside a SQLite store's file by
default, `store.spool_dir` for PostgreSQL) and fsynced before the 503; the next sidecar to
start on that host writes it to the store and deletes the file. Real sidecar processes killed
with SIGKILL, SQLite (another process holds the file's write lock) and PostgreSQL (the
database refuses connections), the official openai SDK as client."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from arbiter.decision_spool import PREFIX, SUFFIX
from arbiter.offline.demo import demo_settings
from arbiter.store import open_store
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.pg import empty_store_url, set_connections
from tests.waiting import until

pytestmark = pytest.mark.timeout(180)

HI = [{"role": "user", "content": "Say hi."}]


@contextmanager
def _store_down(backend: str, url: str) -> Iterator[None]:
    """The store refuses the sidecar's writes until the block ends."""
    if backend == "postgres":
        db = url.rsplit("/", 1)[1]
        set_connections(db, False)
        try:
            yield
        finally:
            set_connections(db, True)
        return
    lock = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=10)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # every other writer waits, then fails: busy
        yield
        lock.execute("ROLLBACK")
    finally:
        lock.close()


def _spooled(spool: Path) -> list[Path]:
    return sorted(p for p in spool.glob(f"{PREFIX}*{SUFFIX}") if p.stat().st_size > 0)


def _stored(url: str, decision_id: str) -> dict[str, Any] | None:
    store = open_store(url)
    try:
        return store.decision(decision_id)
    finally:
        store.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_decision_spooled_during_an_outage_survives_kill_9(
    tmp_path: Path, sim_url: str, backend: str
) -> None:
    with empty_store_url(backend, tmp_path / "a.db") as url:
        doc = demo_settings(sim_url, tmp_path / "a.db", auth=False)
        doc["routing"]["judge_sample_rate"] = 0.0
        doc["store"] = {"url": url, "durability": "strict"}
        spool = tmp_path / "a.db.spool"  # SQLite's default: beside its file
        if backend == "postgres":
            spool = tmp_path / "spool"
            doc["store"]["spool_dir"] = str(spool)
        (tmp_path / "a.toml").write_text(to_toml(doc))
        first = Sidecar(tmp_path / "a.toml").start()
        try:
            with openai.OpenAI(base_url=first.base_url, api_key="k", max_retries=0) as gpt:
                gpt.chat.completions.create(model="sim-premium", messages=HI)  # type: ignore[arg-type]
                with _store_down(backend, url):
                    with pytest.raises(openai.APIStatusError) as got:
                        gpt.chat.completions.create(model="sim-premium", messages=HI)  # type: ignore[arg-type]
                    assert got.value.status_code == 503
                    decision_id = got.value.response.headers["x-arbiter-decision-id"]
                    # on disk (a silent SQLite file: once its commit gave up, in the background)
                    until(lambda: _spooled(spool), "the decision spooled", timeout_s=30.0)
                    assert decision_id.encode() in _spooled(spool)[0].read_bytes()
                    first.stop(signal.SIGKILL)  # while the store is still down
        finally:
            first.stop(signal.SIGKILL)
        assert _stored(url, decision_id) is None  # the store never had it
        second = Sidecar(tmp_path / "a.toml").start()  # its start replays the dead one's file
        try:
            until(lambda: _stored(url, decision_id) is not None, "the spooled decision written")
            row = _stored(url, decision_id)
            assert row is not None and row["chosen_model"] == "sim-premium" and row["cost_usd"] > 0
            until(lambda: not _spooled(spool), "the dead process's spool file deleted")
        finally:
            second.stop()
