"""bench/overhead: run peerbench against LiteLLM and Arbiter with the same options, side by side.

Owns the run plan (quick/full), the peer set-up (LiteLLM in its own venv outside the repo), the
extraction of the headline figures from peerbench's results.json, and the side-by-side table.
It starts no proxy itself: peerbench does, each in its own process group, pinned to one CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
PEERBENCH = Path(os.environ.get("PEERBENCH_DIR", REPO.parent / "shared" / "tools" / "peerbench"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "arbiter-bench"
LITELLM_VERSION = "1.108.7"
ARBITER_START = BENCH / "peers" / "arbiter" / "start.sh"

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """The peerbench options every proxy gets (same load, same driver, same pinning)."""

    delays: str
    concurrency: str
    repeats: int
    duration: float
    warmup: float
    proxy_warmup: float
    stream_delay: float
    stream_concurrency: str
    stream_duration: float

    def args(self, *, stream: bool = True) -> list[str]:
        return [
            "--delays", self.delays,
            "--concurrency", self.concurrency,
            "--repeats", str(self.repeats),
            "--duration", str(self.duration),
            "--warmup", str(self.warmup),
            "--proxy-warmup", str(self.proxy_warmup),
            "--stream-delay", str(self.stream_delay),
            "--stream-concurrency", self.stream_concurrency if stream else "",
            "--stream-duration", str(self.stream_duration),
        ]  # fmt: skip


QUICK = Plan("0", "1,50", 1, 5.0, 1.0, 3.0, 0.0, "1", 5.0)
FULL = Plan("0,50", "1,10,50", 2, 10.0, 2.0, 5.0, 50.0, "1,10", 10.0)


def log(msg: str) -> None:
    print(f"[overhead {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- set-up -------------------------------------------------------------------------------------
def ensure_litellm(venv: Path) -> Path:
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        log(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv} (once)")
        subprocess.run(
            ["bash", str(PEERBENCH / "peers" / "litellm" / "setup.sh"), str(venv), LITELLM_VERSION],
            check=True,
        )
    return exe


def arbiter_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import arbiter, arbiter._native; print(arbiter.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(
            "arbiter is not importable from the repo venv (build it: .venv/bin/maturin develop -r)"
            f"\n{out.stderr[-1500:]}"
        )
    return out.stdout.strip()


def peerbench(name: str, cmd: str, model: str, plan_args: list[str], out: Path, env: Row) -> Row:
    """One peerbench invocation; returns its results.json."""
    argv = [
        "bash", str(PEERBENCH / "run.sh"),
        "--proxy-name", name, "--proxy-cmd", cmd, "--model", model,
        "--out-dir", str(out), *plan_args,
    ]  # fmt: skip
    log(f"peerbench {name}: {' '.join(shlex.quote(a) for a in argv[2:])}")
    with open(out.parent / f"{name}.stdout.md", "w") as md:
        subprocess.run(argv, env={**os.environ, **env}, stdout=md, check=True)
    with open(out / "results.json") as f:
        data: Row = json.load(f)
    return data


# -- figures ------------------------------------------------------------------------------------
def _mean(vals: list[float]) -> float | None:
    return round(statistics.mean(vals), 3) if vals else None


def _pairs(results: list[Row], delay: float, c: int, stream: bool) -> list[tuple[Row, Row]]:
    out = []
    for rep in sorted({r["repeat"] for r in results}):
        sel = [
            r
            for r in results
            if r["delay_ms"] == delay
            and r["concurrency"] == c
            and r["stream"] == stream
            and r["repeat"] == rep
            and not r.get("rate")
        ]
        d = next((r for r in sel if r["target"] == "direct"), None)
        p = next((r for r in sel if r["target"] == "proxy"), None)
        if d and p:
            out.append((d, p))
    return out


def added(
    results: list[Row], delay: float, c: int, key: str, pct: str, stream: bool
) -> float | None:
    vals = []
    for d, p in _pairs(results, delay, c, stream):
        dv, pv = (d.get(key) or {}).get(pct), (p.get(key) or {}).get(pct)
        if dv is not None and pv is not None:
            vals.append(pv - dv)
    return _mean(vals)


def figures(run: Row, passthrough: Row | None) -> Row:
    """The issue #7 headline figures from one peerbench results.json (+ the pass-through run)."""
    meta, res = run["meta"], run["results"]
    delay0 = min(meta["delays_ms"])
    c_lo, c_hi = min(meta["concurrency"]), max(meta["concurrency"])
    top = [p for _, p in _pairs(res, delay0, c_hi, False)]
    sc = min(meta["stream_concurrency"]) if meta["stream_concurrency"] else None
    rss = [r["proxy_rss_mb"] for r in res if r.get("proxy_rss_mb") is not None]
    fig: Row = {
        "added_p50_ms": added(res, delay0, c_lo, "latency_ms", "p50", False),
        "added_p99_ms": added(res, delay0, c_lo, "latency_ms", "p99", False),
        "passthrough_p50_ms": None,
        "rps_one_core": _mean([p["rps"] for p in top]),
        "cpu_ms_per_req": _mean([p["proxy_cpu_ms_per_req"] for p in top]),
        "stream_ttfb_added_p50_ms": (
            added(res, meta["stream_delay_ms"], sc, "ttfb_ms", "p50", True) if sc else None
        ),
        "rss_mb": max(rss) if rss else None,
    }
    if passthrough is not None:
        pres = passthrough["results"]
        fig["passthrough_p50_ms"] = added(pres, delay0, c_lo, "latency_ms", "p50", False)
        fig["passthrough_p99_ms"] = added(pres, delay0, c_lo, "latency_ms", "p99", False)
        ptop = [p for _, p in _pairs(pres, delay0, c_hi, False)]
        fig["passthrough_rps_one_core"] = _mean([p["rps"] for p in ptop])
        fig["passthrough_cpu_ms_per_req"] = _mean([p["proxy_cpu_ms_per_req"] for p in ptop])
    errors = sum(r.get("errors", 0) for r in res if r["target"] == "proxy")
    fig["proxy_errors"] = errors
    return fig


GOALS: dict[str, tuple[str, float | None]] = {
    "added_p50_ms": ("<=", 1.5),
    "added_p99_ms": ("<=", 4.0),
    "passthrough_p50_ms": ("<=", 0.7),
    "rps_one_core": (">=", None),  # 15x LiteLLM's, filled in at run time
    "cpu_ms_per_req": ("<=", 0.8),
    "stream_ttfb_added_p50_ms": ("<=", 1.5),
    "rss_mb": ("<=", 150.0),
}


def table(arb: Row, lite: Row | None) -> str:
    rows = ["| figure | Arbiter | LiteLLM | LiteLLM / Arbiter | goal (issue #7) | met |"]
    rows.append("|---|---|---|---|---|---|")
    for key, (op, goal) in GOALS.items():
        a, b = arb.get(key), (lite or {}).get(key)
        if key == "rps_one_core" and b:
            goal = 15 * b
        ratio = "-"
        if isinstance(a, int | float) and isinstance(b, int | float) and a:
            ratio = f"{(a / b if key == 'rps_one_core' else b / a):.1f}x"
        met = "-"
        if isinstance(a, int | float) and goal is not None:
            met = "yes" if (a <= goal if op == "<=" else a >= goal) else "NO"
        goal_s = f"{op} {goal:g}" if goal is not None else "-"
        rows.append(f"| {key} | {_s(a)} | {_s(b)} | {ratio} | {goal_s} | {met} |")
    return "\n".join(rows)


def _s(v: object) -> str:
    return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


# -- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="bench/overhead",
        description="Arbiter vs LiteLLM through peerbench, same options, same machine, one run.",
    )
    ap.add_argument("--quick", action="store_true", help="short mode (under 3 minutes)")
    ap.add_argument("--skip-litellm", action="store_true", help="Arbiter only")
    ap.add_argument("--out-dir", default=None, help="default bench/out/overhead-<time>")
    ap.add_argument("--results", default=str(BENCH / "results"), help="where overhead.* go")
    ap.add_argument(
        "--arbiter",
        default=str(REPO / ".venv" / "bin" / "arbiter"),
        help="the arbiter executable to measure (default: the repo venv's)",
    )
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/overhead.*")
    a = ap.parse_args(argv)
    plan = QUICK if a.quick else FULL
    out = Path(a.out_dir or BENCH / "out" / f"overhead-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    py = REPO / ".venv" / "bin" / "python"
    version = arbiter_version(py)
    env: Row = {"PEERBENCH_VENV": str(CACHE / "peerbench-venv")}
    lite_fig: Row | None = None
    if not a.skip_litellm:
        exe = ensure_litellm(CACHE / "litellm-venv")
        lite = peerbench(
            "litellm",
            "bash peers/litellm/start.sh",
            "mock-gpt",
            [*plan.args(), "--proxy-version", f"litellm {LITELLM_VERSION}"],
            out / "litellm",
            {**env, "LITELLM": str(exe)},
        )
        lite_fig = figures(lite, None)
    arb_env = {**env, "ARBITER": a.arbiter}
    cmd = f"bash {shlex.quote(str(ARBITER_START))}"
    ver = ["--proxy-version", f"arbiter {version}"]
    routed = peerbench("arbiter", cmd, "auto", plan.args() + ver, out / "arbiter", arb_env)
    passthrough = peerbench(
        "arbiter-passthrough",
        cmd,
        "mock-gpt",
        plan.args(stream=False) + ver,
        out / "arbiter-passthrough",
        arb_env,
    )
    arb_fig = figures(routed, passthrough)
    meta = routed["meta"]
    head = (
        f"Arbiter {version} (routed `auto` over 3 models; pass-through `mock-gpt`) vs LiteLLM "
        f"{LITELLM_VERSION}; {'quick' if a.quick else 'full'} mode; {meta['cpus']} x "
        f"{meta['cpu_model']}; proxy pinned to CPU {meta['proxy_cpus']}, mock + driver on "
        f"{meta['load_cpus']}; python {platform.python_version()}; "
        f"{time.monotonic() - t0:.0f} s; raw: {out}"
    )
    md = f"# bench/overhead\n\n{head}\n\n{table(arb_fig, lite_fig)}\n"
    print(md)
    line = json.dumps({"arbiter": arb_fig, "litellm": lite_fig or {}}, separators=(",", ":"))
    if not a.no_save:
        res = Path(a.results)
        res.mkdir(parents=True, exist_ok=True)
        suffix = "quick" if a.quick else "full"
        (res / f"overhead.{suffix}.md").write_text(md)
        (res / f"overhead.{suffix}.json").write_text(
            json.dumps(
                {"plan": plan.args(), "meta": meta, "arbiter": arb_fig, "litellm": lite_fig},
                indent=1,
            )
            + "\n"
        )
    print(line, flush=True)
    return 0
