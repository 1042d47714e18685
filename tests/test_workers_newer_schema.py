"""`server.workers = N` against a store at a schema newer than this code knows: the supervisor
migrates before it starts the set and warns; each worker migrated again (a no-op) and warned
again, N + 1 identical warnings for one fact. Once a set now: the supervisor tells its workers
what it warned (workers.NEWER_SCHEMA_ENV)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from arbiter.inherited_socket import unheld_port
from arbiter.store import open_store
from tests.probe23d_rig import children, listening_ports, serve_process, write_config

NEWER = "newer than this code knows"


def test_a_newer_schema_is_warned_once_a_worker_set(tmp_path: Path) -> None:
    """Fails before: 3 warnings (the supervisor's and each of 2 workers')."""
    port = unheld_port()
    cfg = write_config(tmp_path, port=port, workers=2)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        version = store.migrate()
        with store._tx() as cur:  # a newer release's migration
            cur.execute("INSERT INTO schema_version VALUES (?, 0)", (version + 1,))
    finally:
        store.close()
    log = tmp_path / "serve.log"
    with log.open("w") as out, serve_process(cfg, stdout=out, stderr=subprocess.STDOUT) as proc:
        deadline = time.monotonic() + 60  # both workers started (their migrations are done)
        while [listening_ports(w) for w in children(proc.pid)] != [{port}, {port}]:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5.0).status_code == 200
    text = log.read_text()
    assert text.count(NEWER) == 1, [ln for ln in text.splitlines() if NEWER in ln]


OPEN = "auth mode is OPEN"


SEMANTIC = "max_false_hit_rate = 0.02 is below"


def test_open_auth_and_a_bound_serving_nothing_are_warned_once_a_worker_set(
    tmp_path: Path,
) -> None:
    """fix24. Fails before: 2 warnings of each (each worker's Authenticator and matcher)."""
    port = unheld_port()
    cache = {"cache": {"enabled": True, "semantic": True}}  # at the default bound, 0.02
    cfg = write_config(tmp_path, sections=cache, port=port, workers=2)  # the demo: no auth
    log = tmp_path / "serve.log"
    with log.open("w") as out, serve_process(cfg, stdout=out, stderr=subprocess.STDOUT) as proc:
        deadline = time.monotonic() + 60  # both workers started (their services are built)
        while [listening_ports(w) for w in children(proc.pid)] != [{port}, {port}]:
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5.0).status_code == 200
    text = log.read_text()
    assert text.count(OPEN) == 1, [ln for ln in text.splitlines() if OPEN in ln]
    assert text.count(SEMANTIC) == 1, [ln for ln in text.splitlines() if SEMANTIC in ln]
