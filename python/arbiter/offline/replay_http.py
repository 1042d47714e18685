"""`arbiter replay --via-sidecar`: the same online replay, through a live sim + sidecar over HTTP.

Starts `arbiter sim` serving the outcome table and `arbiter serve` whose pool is the table's models,
sends each prompt (model "auto") in the replay's seeded order, reads `x-arbiter-model`, and feeds
back that model's recorded quality with `POST /v1/feedback`. Only the client reads the table.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from arbiter.inherited_socket import fd_args, loopback_listener, port_of, spawn_on
from arbiter.offline.demo import admin_create_key, stop_processes
from arbiter.offline.outcome_table import Table, default_baseline, first_turn, read_rows
from arbiter.offline.replay import ReplayConfig, RunResult, _refs, replay_order, summarize
from arbiter.toml_text import to_toml

SIM_KEY_ENV = "ARBITER_REPLAY_SIM_KEY"
ADMIN_KEY_ENV = "ARBITER_REPLAY_ADMIN_KEY"
TENANT = "replay"


@dataclass(frozen=True, slots=True)
class Stack:
    base_url: str  # the sidecar's /v1
    api_key: str


def sim_toml(table_path: Path, models_path: Path, models: Sequence[str]) -> str:
    # fast, quiet upstreams: the replay measures routing, not latency
    quiet = {"latency_ms": 1.0, "latency_jitter_ms": 0.0, "ms_per_chunk": 0.0}
    return to_toml({
        "seed": 7,
        "outcome_table": str(table_path),
        "outcome_models": str(models_path),
        "models": {m: dict(quiet) for m in models},
    })  # fmt: skip


def sidecar_toml(
    table: Table, cfg: ReplayConfig, baseline: str, sim_url: str, db_path: Path
) -> str:
    knob = "cost_weight" if cfg.objective == "cost_weight" else "quality_target"
    routing: dict[str, Any] = {"baseline": baseline, knob: cfg.knob, "explore": cfg.explore,
                               "judge_sample_rate": 0.0}  # fmt: skip
    if cfg.prior_strength is not None:
        routing["prior_strength"] = cfg.prior_strength
    models: dict[str, Any] = {}
    for m in table.models:
        models[m.id] = {"upstream": "sim", "price_in_per_mtok": m.price_in_per_mtok,
                        "price_out_per_mtok": m.price_out_per_mtok, "context_window": 1000000,
                        "capabilities": ["chat"]}  # fmt: skip
        if cfg.priors.get(m.id):
            models[m.id]["priors"] = dict(cfg.priors[m.id])
    return to_toml({
        # the replay grades every answer, as fast as the sim answers: its key is not held back
        "auth": {"mode": "keys", "admin_key_env": ADMIN_KEY_ENV, "feedback_per_minute": 0},
        "server": {"log_level": "warning"},
        "store": {"url": f"sqlite:///{db_path}"},
        "routing": routing,
        "upstreams": {"sim": {"base_url": sim_url, "api_key_env": SIM_KEY_ENV}},
        "models": models,
    })  # fmt: skip


def _wait(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0, headers={"authorization": "Bearer x"}).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout_s}s")


@contextlib.contextmanager
def running_stack(
    table: Table, table_path: Path, models_path: Path, cfg: ReplayConfig, baseline: str,
    workdir: Path,
) -> Iterator[Stack]:  # fmt: skip
    """A sim serving the table and a sidecar routing over its models, both on loopback."""
    admin_key = "adm-" + secrets.token_urlsafe(24)
    env = {**os.environ, SIM_KEY_ENV: "sim-replay-key", ADMIN_KEY_ENV: admin_key}
    # both ports held from their choice on (inherited_socket.py)
    sim_sock, sock = loopback_listener(), loopback_listener()
    port = port_of(sock)
    sim_url = f"http://127.0.0.1:{port_of(sim_sock)}/v1"
    (workdir / "sim.toml").write_text(
        sim_toml(table_path.resolve(), models_path.resolve(), [m.id for m in table.models])
    )
    (workdir / "arbiter.toml").write_text(
        sidecar_toml(table, cfg, baseline, sim_url, workdir / "arbiter.db")
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for held, argv, url in (
            (sim_sock, ["sim", "--config", str(workdir / "sim.toml")], f"{sim_url}/models"),
            (sock, ["serve", "--config", str(workdir / "arbiter.toml")],
             f"http://127.0.0.1:{port}/healthz"),
        ):  # fmt: skip
            argv = [sys.executable, "-m", "arbiter", *argv, *fd_args(held)]
            procs.append(spawn_on(held, argv, env, start_new_session=True))
            _wait(url, procs[-1])
        root = f"http://127.0.0.1:{port}"
        yield Stack(f"{root}/v1", admin_create_key(root, admin_key, TENANT, "replay"))
    finally:
        sim_sock.close()  # a no-op once its child has it
        sock.close()
        stop_processes(procs)


def table_messages(table_path: Path) -> dict[str, list[Mapping[str, Any]]]:
    """Row id -> what the client sends: the row's first turn (`first_turn`: all of a one-turn
    row), the request the in-process replay routes a multi-turn row (MT Bench) on, as RouteLLM
    does; read by the table's one reader (a BOM, CRLF, a damaged line: as `load_table` reads
    them). The sim knows a row by its first turn too (sim/outcomes.py)."""
    return {r.id: list(first_turn(r.messages)) for r in read_rows(table_path)}


def drive(
    table: Table,
    cfg: ReplayConfig,
    stack: Stack,
    messages: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    deadline_s: float = 600.0,
) -> tuple[RunResult, float]:
    """Send the table online through the sidecar; (the run, the sidecar's own billed cost)."""
    calls = dict.fromkeys((m.id for m in table.models), 0)
    cost = qual = billed = 0.0
    cum_cost: list[float] = []
    cum_q: list[float] = []
    stop = time.monotonic() + deadline_s
    headers = {"authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30.0) as client:
        for i in replay_order(len(table.rows), cfg.seed):
            if time.monotonic() > stop:
                raise TimeoutError(f"replay via sidecar passed its {deadline_s}s deadline")
            row = table.rows[i]
            body = {"model": "auto", "messages": list(messages[row.id])}
            r = client.post("/chat/completions", json=body)
            r.raise_for_status()
            model = r.headers["x-arbiter-model"]
            out = row.outcomes[model]  # the client knows the truth; the router never sees it
            client.post(
                "/feedback", json={"decision_id": r.headers["x-arbiter-decision-id"],
                                   "score": out.quality},
            ).raise_for_status()  # fmt: skip
            calls[model] += 1
            cost += out.cost_usd
            billed += float(r.headers.get("x-arbiter-cost-usd", "0") or 0)
            qual += out.quality
            cum_cost.append(cost)
            cum_q.append(qual)
    n = len(table.rows)
    res = RunResult(cfg.knob, n, cost, qual / n, calls, dict(calls), 0,
                    tuple(cum_cost), tuple(cum_q))  # fmt: skip
    return res, billed


def replay_via_sidecar(
    table: Table, table_path: Path, models_path: Path, cfg: ReplayConfig, workdir: Path,
    *, deadline_s: float = 600.0,
) -> dict[str, Any]:  # fmt: skip
    """The in-process replay's JSON report, produced through a live sim + sidecar."""
    baseline = cfg.baseline or default_baseline(table)
    # the sidecar learns output lengths from the answers it relays (no length priors here)
    cfg = ReplayConfig(
        cfg.knob, cfg.seed, baseline, cfg.explore, cfg.priors,
        prior_strength=cfg.prior_strength, objective=cfg.objective,
    )  # fmt: skip
    with running_stack(table, table_path, models_path, cfg, baseline, workdir) as stack:
        res, billed = drive(table, cfg, stack, table_messages(table_path), deadline_s=deadline_s)
    doc: dict[str, Any] = {"knob": cfg.knob, "seed": cfg.seed, "baseline_model": baseline}
    doc |= summarize(table, res, _refs(table, baseline))
    doc["via_sidecar"] = True
    doc["sidecar_billed_usd"] = round(billed, 6)
    return doc
