"""`arbiter serve` with `[server] log_format = "json"`: every line it writes is one JSON object
(uvicorn's own lines included), each served request has its line with the request id the client
got back, and a failed upstream attempt's warning names the model, its upstream and the error."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import orjson

from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from arbiter.offline.demo import _wait_http, demo_config
from tests.child_process import die_with_parent
from tests.conftest import ADMIN_KEY, ENV

USER = [{"role": "user", "content": "Say hello."}]


def test_json_logs_from_a_real_sidecar(tmp_path: Path, sim_url: str) -> None:
    text = demo_config(sim_url, tmp_path / "arbiter.db")
    assert 'log_level = "warning"' in text
    text = text.replace('log_level = "warning"', 'log_level = "info"\nlog_format = "json"', 1)
    # a model whose upstream refuses connections: its failed attempts are logged
    text += (
        '\n[upstreams.dead]\nbase_url = "http://127.0.0.1:9/v1"\n'
        '\n[models.dead-model]\nupstream = "dead"\nprice_in_per_mtok = 1.0\n'
        'price_out_per_mtok = 1.0\ncapabilities = ["chat", "no-route"]\n'
    )
    config = tmp_path / "arbiter.toml"
    config.write_text(text)
    sock = loopback_listener()
    port = port_of(sock)
    log_path = tmp_path / "sidecar.log"
    with log_path.open("wb") as log_file:
        proc = spawn_on(
            sock, [sys.executable, "-m", "arbiter", "serve", "--config", str(config),
                   *fd_args(sock)],
            ENV, stderr=log_file, start_new_session=True, preexec_fn=die_with_parent(),
        )  # fmt: skip
        try:
            root = f"http://127.0.0.1:{port}"
            _wait_http(f"{root}/healthz", proc)
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            key = httpx.post(f"{root}/arbiter/admin/keys", json={}, headers=admin).json()["key"]
            auth = {"authorization": f"Bearer {key}", "x-request-id": "e2e-log-1"}
            r = httpx.post(
                f"{root}/v1/chat/completions",
                json={"model": "sim-small", "messages": USER},
                headers=auth,
                timeout=30,
            )
            assert r.status_code == 200 and r.headers["x-arbiter-request-id"] == "e2e-log-1"
            dead = httpx.post(
                f"{root}/v1/chat/completions",
                json={"model": "dead-model", "messages": USER},
                headers={"authorization": f"Bearer {key}"},
                timeout=60,
            )
            assert dead.status_code == 503, dead.text
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    lines = [orjson.loads(line) for line in log_path.read_bytes().splitlines() if line.strip()]
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # one format for all
    requests = {line["request_id"]: line for line in lines if line["message"] == "request"}
    ok = requests["e2e-log-1"]
    assert ok["level"] == "info" and ok["model"] == "sim-small" and ok["status"] == 200
    assert ok["upstream_request_id"] == "simreq_e2e-log-1"
    failed = [line for line in lines if line["message"] == "upstream attempt failed"]
    assert failed and failed[0]["model"] == "dead-model" and failed[0]["upstream"] == "dead"
    assert failed[0]["error"] and failed[0]["level"] == "warning"
    dead_line = requests[dead.headers["x-arbiter-request-id"]]
    assert dead_line["status"] == 503 and dead_line["outcome"] == "failed"
