"""Ctrl-C twice (SIGINT, then SIGINT again while requests are in flight): uvicorn stops waiting
for them at once, and skipped the app's shutdown with it. The stream it cut was never recorded,
the recorder's unwritten batch (an answer already delivered) was lost with the process, and
the stream's budget hold stayed for a sweep to charge at its worst case (or, when the
lifespan's cancellation at the exit ran its stop in time, they were, after a traceback in
the log: which of the two came first was chance). Now the second
signal cuts the requests as the grace's end does, and the app still stops."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY_ENV, ENV, Sidecar
from tests.probe23d_rig import SlowStream, StreamClient, write_config
from tests.scripted_upstream import serving

SECTIONS = {
    "store": {"flush_interval_ms": 60_000},  # nothing written on its own during the test
    "budgets": {"caps": [{"scope": "global", "limit_usd": 100.0, "window": "total"}]},
}


def test_ctrl_c_twice_cuts_the_requests_and_still_records_them(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with serving(SlowStream) as upstream:
        cfg = write_config(tmp_path, upstream, SECTIONS, shutdown_grace_s=30)
        sidecar = Sidecar(cfg, env={**ENV, API_KEY_ENV: "k"}).start()
        proc = sidecar.proc.proc
        assert proc is not None
        try:
            whole = httpx.post(
                f"{sidecar.base_url}/chat/completions",
                json={"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            )
            assert whole.status_code == 200, whole.text
            client = StreamClient(sidecar.base_url)
            assert client.first.wait(30), "the stream's first event"
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(30)
            client.thread.join(10)
        finally:
            sidecar.stop(signal.SIGKILL)
    assert rc == 130, rc
    log = capfd.readouterr().err  # the sidecar's, which writes to the test's descriptors
    assert "Traceback" not in log, log[-3000:]  # was the lifespan's, cancelled at the exit
    assert "shutting down" in str(client.got.get("error")), client.got  # told, not dropped
    with sqlite3.connect(tmp_path / "a.db") as db:
        rows = db.execute(
            "SELECT chosen_model, status FROM decisions WHERE mode != 'judge' ORDER BY ts"
        ).fetchall()
        holds = db.execute("SELECT count(*) FROM budget_holds").fetchone()[0]
        reserved = db.execute("SELECT sum(reserved_usd) FROM budget_usage").fetchone()[0]
    assert rows == [("sim-small", "ok"), ("sim-tiny", "failed")], rows
    assert (holds, reserved) == (0, 0), (holds, reserved)
