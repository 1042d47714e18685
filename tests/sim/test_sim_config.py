"""sim.toml parsing is strict, has sensible defaults, and the built-in pool is usable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from arbiter.errors import ConfigError
from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from arbiter.offline.sim import default_pool, load_config
from arbiter.offline.sim.config import parse_config
from tests.child_process import die_with_parent

EXAMPLE = """
seed = 7
[models.tiny]
price_in_per_mtok = 0.10
price_out_per_mtok = 0.20
latency_ms = 20
latency_jitter_ms = 5
ms_per_chunk = 2
report_cost = "both"
reported_price_factor = 1.0
[models.tiny.quality]
code = 0.3
math = 0.4
extraction = 0.5
summarization = 0.7
translation = 0.7
creative = 0.7
chat = 0.6
[models.tiny.failures]
error_5xx = 0.01
error_429 = 0.0
timeout = 0.0
malformed = 0.0
stream_cut_after = 3
stream_cut = 0.1
stall = 0.0
stall_ms = 5000
trickle = 0.0
trickle_ms = 200
malformed_chunk = 0.0
[models.judge]
price_in_per_mtok = 0.15
"""


def test_the_documented_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(EXAMPLE)
    cfg = load_config(path)
    tiny = cfg.models["tiny"]
    assert cfg.seed == 7
    assert tiny.quality["math"] == 0.4
    assert tiny.failures.stream_cut_after == 3
    assert tiny.report_cost == "both"
    assert not tiny.judge
    assert cfg.models["judge"].judge  # named judge: judges, and is exact by default
    assert set(cfg.models["judge"].quality.values()) == {1.0}


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"models": {"m": {}}, "sed": 1}, "sed"),
        ({"models": {"m": {"latency": 3}}}, "models.m.latency"),
        ({"models": {"m": {"quality": {"poetry": 0.5}}}}, "models.m.quality.poetry"),
        ({"models": {"m": {"failures": {"error_500": 0.1}}}}, "models.m.failures.error_500"),
        ({"models": {"m": {"failures": {"error_5xx": 1.5}}}}, "models.m.failures.error_5xx"),
        ({"models": {"m": {"report_cost": "yes"}}}, "models.m.report_cost"),
        ({"models": {"m": {"price_in_per_mtok": "1"}}}, "models.m.price_in_per_mtok"),
        ({"models": {}}, "models"),
        ({"models": {"m": {}}, "outcome_table": "t.jsonl.gz"}, "outcome_models"),
    ],
)
def test_bad_configs_are_errors_naming_the_key(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parse_config(raw)


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [")
    with pytest.raises(ConfigError):
        load_config(bad)


def test_default_pool_is_cheap_to_premium_with_a_judge() -> None:
    pool = default_pool()
    assert load_config(None) == pool
    names = [n for n, m in pool.models.items() if not m.judge]
    assert len(names) >= 4
    prices = [pool.models[n].price_out_per_mtok for n in names]
    quality = [pool.models[n].quality["code"] for n in names]
    assert prices == sorted(prices) and quality == sorted(quality)
    judge = pool.models["judge"]
    assert judge.judge and judge.failures.error_5xx == 0.0
    assert judge.price_out_per_mtok < pool.models[names[-1]].price_out_per_mtok


def test_python_m_arbiter_sim_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(EXAMPLE)
    sock = loopback_listener()  # held from here on: no other process can take the port
    port = port_of(sock)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = spawn_on(
        sock,
        [sys.executable, "-m", "arbiter.offline.sim", "--config", str(path), *fd_args(sock)],
        env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent(),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/models",
                              headers={"Authorization": "Bearer k"})  # fmt: skip
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert [m["id"] for m in r.json()["data"]] == ["tiny", "judge"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize(
    "text",
    [
        "seed = " + "[" * 100_000 + "]" * 100_000 + "\n",  # tomllib: a RecursionError
        "seed = " + "{a = " * 100 + "1" + "}" * 100 + "\n",  # parses, but past the main's bound
    ],
    ids=["arrays", "tables"],
)
def test_a_deeply_nested_sim_config_is_refused_as_arbiter_toml_is(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)


def test_a_sim_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_bytes(b"seed = 1 # \xff\n")
    with pytest.raises(ConfigError, match="cannot read sim config"):
        load_config(path)


def test_bad_config_exits_2_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    path.write_text("[models.m]\nlatnecy_ms = 3\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-m", "arbiter.offline.sim", "--config", str(path), "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "models.m.latnecy_ms" in done.stderr


def test_a_reasoning_style_model_refuses_max_tokens() -> None:
    from starlette.testclient import TestClient

    from arbiter.offline.sim.config import ModelProfile, SimConfig, parse_profile
    from arbiter.offline.sim.server import build_app

    assert parse_profile("r", {"token_param": "max_completion_tokens"}).token_param == (
        "max_completion_tokens"
    )
    profile = ModelProfile("r", token_param="max_completion_tokens", latency_ms=0.0)
    app = build_app(SimConfig(models={"r": profile}, require_auth=False))
    with TestClient(app) as client:
        msgs = [{"role": "user", "content": "hi"}]
        r = client.post(
            "/v1/chat/completions", json={"model": "r", "messages": msgs, "max_tokens": 5}
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"
        body = {"model": "r", "messages": msgs, "max_completion_tokens": 5}
        assert client.post("/v1/chat/completions", json=body).status_code == 200
