"""A/B the sidecar's request path: same mock, same load, several code variants, interleaved.

Each variant is a directory holding an `arbiter` package (e.g. python/ of this repo, or a scratch
copy with a change). Per round and variant: start the sidecar pinned to one CPU (the mock and the
driver on another), drive peerbench's loadgen at each (model, concurrency), read the sidecar's CPU
time and RSS from /proc, optionally record py-spy stacks. Bounded: fixed rounds and seconds.
Usage: python bench/profile_overhead.py --variant base=python --variant proto=/tmp/x [--spy]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARBITER_SHARED_DIR", REPO.parent / "shared"))
PEERBENCH = Path(os.environ.get("PEERBENCH_DIR", SHARED / "tools" / "peerbench"))
# the children (mock, load generator, sidecars) run on this interpreter, as the other benches'
# do: any with the deps, not the repo's .venv (which may be absent, or another Python's)
PY = Path(sys.executable)
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _usage(pid: int) -> tuple[float, float]:
    """(cpu seconds of the process incl. its threads, rss MB)."""
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK, int(fields[21]) * PAGE / 2**20


def _main_thread_cpu(pid: int) -> float:
    """CPU seconds of the main thread (the event loop) alone; the rest is other threads."""
    with open(f"/proc/{pid}/task/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def _wait(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early ({proc.returncode}) waiting for {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout_s}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _config(upstream: str, workdir: Path, extra: dict[str, str] | None = None) -> Path:
    """start.sh's config in `workdir`; `extra`: more ARBITER_BENCH_* settings for it."""
    env = dict(os.environ, UPSTREAM_BASE=upstream, PROXY_PORT="0", PEERBENCH_WORKDIR=str(workdir))
    env.update(extra or {})
    env["ARBITER"] = "true"  # only write the config: `true serve ...` exits at once
    subprocess.run(["bash", str(REPO / "bench/peers/arbiter/start.sh")], env=env, check=True)
    return workdir / "arbiter.toml"


def _load(port: int, model: str, c: int, seconds: float, cpus: str) -> dict[str, Any]:
    argv = ["taskset", "-c", cpus, str(PY), str(PEERBENCH / "loadgen.py")]
    argv += ["--url", f"http://127.0.0.1:{port}", "--model", model, "-c", str(c)]
    argv += ["-d", str(seconds), "--warmup", "1", "--json", "--timeout", "30"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 60)
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def run_point(
    name: str, src: str, cfg: Path, a: argparse.Namespace, model: str, c: int, spy_dir: Path | None
) -> dict[str, Any]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=src)
    argv = ["taskset", "-c", a.proxy_cpus, str(PY), "-m", "arbiter", "serve"]
    argv += ["--config", str(cfg), "--port", str(port)]
    proc = subprocess.Popen(
        argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", proc)
        rest_rss = _usage(proc.pid)[1]
        _load(port, model, c, 2, a.load_cpus)  # warm the pools and lazy paths
        cpu0, _ = _usage(proc.pid)
        main0 = _main_thread_cpu(proc.pid)
        spy = None
        if spy_dir is not None:
            out = spy_dir / f"{name}-{model}-c{c}.txt"
            py_spy = shutil.which("py-spy", path=str(PY.parent)) or "py-spy"  # else on PATH
            spy = subprocess.Popen(
                [py_spy, "record", "--pid", str(proc.pid), "-d",
                 str(max(1, int(a.seconds) - 2)), "-r", "200", "-f", "raw", "-o", str(out),
                 "--nonblocking", *(["--gil"] if a.spy_gil else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        r = _load(port, model, c, a.seconds, a.load_cpus)
        cpu1, rss = _usage(proc.pid)
        main1 = _main_thread_cpu(proc.pid)
        if spy is not None:
            spy.wait(a.seconds + 30)
        n = r["ok"] + r.get("warmup_ok", 0)
        lat = r["latency_ms"]
        return {
            "variant": name, "model": model, "c": c, "rps": r["rps"], "p50": lat["p50"],
            "p99": lat["p99"], "max": lat["max"], "errors": r["errors"],
            "cpu_ms_per_req": round((cpu1 - cpu0) * 1000 / max(n, 1), 3),
            "loop_cpu_ms_per_req": round((main1 - main0) * 1000 / max(n, 1), 3),
            "rss_rest_mb": round(rest_rss, 1), "rss_mb": round(rss, 1),
        }  # fmt: skip
    finally:
        _stop(proc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", action="append", required=True, help="NAME=DIR (repeatable)")
    ap.add_argument("--models", default="auto,mock-gpt")
    ap.add_argument("--concurrency", default="1,50")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--proxy-cpus", default="1")
    ap.add_argument("--load-cpus", default="0")
    ap.add_argument("--spy", default=None, help="directory for py-spy stacks (round 1 only)")
    ap.add_argument("--spy-gil", action="store_true", help="py-spy --gil: GIL holder only")
    ap.add_argument("--json", default=None, help="write every row to this file")
    a = ap.parse_args(argv)
    a.rounds, a.seconds = min(max(a.rounds, 1), 10), min(max(a.seconds, 2.0), 60.0)
    variants = [v.split("=", 1) for v in a.variant]
    work = Path(tempfile.mkdtemp(prefix="arbiter-prof-"))
    mport = _free_port()
    mock = subprocess.Popen(
        ["taskset", "-c", a.load_cpus, str(PY), str(PEERBENCH / "mock_upstream.py"),
         "--port", str(mport)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    try:
        _wait(f"http://127.0.0.1:{mport}/health", mock)
        cfg = _config(f"http://127.0.0.1:{mport}/v1", work)
        spy_dir = Path(a.spy) if a.spy else None
        if spy_dir:
            spy_dir.mkdir(parents=True, exist_ok=True)
        for rnd in range(a.rounds):
            for model in a.models.split(","):
                for c in (int(x) for x in a.concurrency.split(",")):
                    for name, src in variants:
                        row = run_point(name, src, cfg, a, model, c, spy_dir if rnd == 0 else None)
                        row["round"] = rnd
                        rows.append(row)
                        print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        _stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    print(
        "| variant | model | C | rps | p50 ms | p99 ms | CPU ms/req | of it event-loop thread "
        "| RSS rest/load MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(r["model"], r["c"], r["variant"]) for r in rows}, key=lambda k: (k[0], k[1]))
    for model, c, name in keys:
        sel = [r for r in rows if (r["model"], r["c"], r["variant"]) == (model, c, name)]

        def med(k: str, sel: list[dict[str, Any]] = sel) -> float:
            return float(statistics.median(r[k] for r in sel))

        print(
            f"| {name} | {model} | {c} | {med('rps'):.0f} | {med('p50'):.3f} | {med('p99'):.2f} "
            f"| {med('cpu_ms_per_req'):.3f} | {med('loop_cpu_ms_per_req'):.3f} "
            f"| {med('rss_rest_mb'):.0f}/{med('rss_mb'):.0f} |"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
