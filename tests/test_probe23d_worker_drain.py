"""SIGTERM to a `server.workers = 2` supervisor with a stream in flight: the README promises each
request `server.shutdown_grace_s` to finish. The supervisor killed its workers 15 s after
passing the signal on, whatever the grace: a stream still running then was cut mid-answer
(the client's connection dropped, no error event) and its decision and spend never written."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from tests.conftest import API_KEY_ENV, ENV, Sidecar
from tests.probe23d_rig import SlowStream, StreamClient, write_config
from tests.scripted_upstream import serving


def test_sigterm_lets_a_workers_stream_finish_within_the_grace(tmp_path: Path) -> None:
    with serving(SlowStream) as upstream:
        cfg = write_config(tmp_path, upstream, workers=2, shutdown_grace_s=40)
        sidecar = Sidecar(cfg, env={**ENV, API_KEY_ENV: "k"}).start()
        proc = sidecar.proc.proc
        assert proc is not None
        try:
            client = StreamClient(sidecar.base_url)
            assert client.first.wait(30), "the stream's first event"
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            client.thread.join(60)
            rc = proc.wait(60)
            stopped_s = time.monotonic() - t0
        finally:
            sidecar.stop(signal.SIGKILL)
    assert client.got == {"text": "ok", "finish": "stop"}, client.got  # no error: whole
    assert stopped_s < 40, stopped_s  # within the grace: the set stopped once its stream ended
    assert rc in (0, 128 + signal.SIGTERM), rc  # a worker's status after SIGTERM, passed on
    # the drained stream's decision was written before the worker exited
    with sqlite3.connect(tmp_path / "a.db") as db:
        rows = db.execute(
            "SELECT chosen_model, status FROM decisions WHERE mode != 'judge'"
        ).fetchall()
    assert rows == [("sim-tiny", "ok")], rows
