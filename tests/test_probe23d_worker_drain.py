"""SIGTERM to a `server.workers = 2` supervisor with a stream in flight: the README promises each
request `server.shutdown_grace_s` to finish. The supervisor killed its workers 15 s after
passing the signal on, whatever the grace: a stream still running then was cut mid-answer
(the client's connection dropped, no error event) and its decision and spend never written."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import openai

from tests.conftest import API_KEY_ENV, ENV, Sidecar
from tests.probe23d_rig import write_config
from tests.scripted_upstream import ScriptedHandler, ok_chat_answer, serving

SLOW_S = 17.0  # the stream's second half comes this long after its first: past the old 15 s
USAGE = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}


class _SlowStream(ScriptedHandler):
    """A stream's first event at once, the rest SLOW_S later; a whole answer at once."""

    def do_POST(self) -> None:
        body = self.read_json()
        answer, kind = ok_chat_answer(body["model"], bool(body.get("stream")), USAGE)
        if not body.get("stream"):
            self.answer(answer)
            return
        first, rest = answer.split(b"\n\n", 1)
        self.send_response(200)
        self.send_header("content-type", kind)
        self.end_headers()
        self.wfile.write(first + b"\n\n")
        self.wfile.flush()
        time.sleep(SLOW_S)
        self.wfile.write(rest)
        self.close_connection = True


def test_sigterm_lets_a_workers_stream_finish_within_the_grace(tmp_path: Path) -> None:
    with serving(_SlowStream) as upstream:
        cfg = write_config(tmp_path, upstream, workers=2, shutdown_grace_s=40)
        sidecar = Sidecar(cfg, env={**ENV, API_KEY_ENV: "k"}).start()
        proc = sidecar.proc.proc
        assert proc is not None
        got: dict[str, object] = {"text": ""}
        first = threading.Event()

        def stream() -> None:
            with openai.OpenAI(base_url=sidecar.base_url, api_key="x", max_retries=0) as client:
                try:
                    for chunk in client.chat.completions.create(
                        model="sim-tiny", messages=[{"role": "user", "content": "hi"}],
                        stream=True, timeout=60,
                    ):  # fmt: skip
                        if chunk.choices and chunk.choices[0].delta.content:
                            got["text"] = str(got["text"]) + chunk.choices[0].delta.content
                            first.set()
                        if chunk.choices and chunk.choices[0].finish_reason:
                            got["finish"] = chunk.choices[0].finish_reason
                except Exception as err:  # what the SDK raised is the finding
                    got["error"] = repr(err)
                first.set()

        client = threading.Thread(target=stream, daemon=True)
        try:
            client.start()
            assert first.wait(30), "the stream's first event"
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            client.join(60)
            rc = proc.wait(60)
            stopped_s = time.monotonic() - t0
        finally:
            sidecar.stop(signal.SIGKILL)
    assert "error" not in got, got
    assert got == {"text": "ok", "finish": "stop"}, got
    assert stopped_s < 40, stopped_s  # within the grace: the set stopped once its stream ended
    assert rc in (0, 128 + signal.SIGTERM), rc  # a worker's status after SIGTERM, passed on
    # the drained stream's decision was written before the worker exited
    with sqlite3.connect(tmp_path / "a.db") as db:
        rows = db.execute(
            "SELECT chosen_model, status FROM decisions WHERE mode != 'judge'"
        ).fetchall()
    assert rows == [("sim-tiny", "ok")], rows
