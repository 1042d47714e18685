"""Memory under sustained load: the sidecar's resident memory over a long run at 80% of its max.

Starts peerbench's mock upstream (CPU 0) and `arbiter serve` routing `auto` (CPU 1, same config
as bench/overhead), measures max throughput with a short closed loop, then drives an open loop at
80% of it for --duration seconds (<= 600) while sampling the sidecar's RSS every 5 s.
Ends with one JSON line: rss at rest, after warm-up, at the end, min/max, drift %.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
PEERBENCH = REPO.parent / "shared" / "tools" / "peerbench"
START = REPO / "bench" / "peers" / "arbiter" / "start.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_ready(url: str, timeout_s: float = 30) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.post(url + "/v1/chat/completions", json=body, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("sidecar did not come up")


def loadgen(python: str, url: str, extra: list[str]) -> dict[str, object]:
    out = subprocess.run(
        ["taskset", "-c", "0", python, str(PEERBENCH / "loadgen.py"), "--url", url,
         "--path", "/v1/chat/completions", "--model", "auto", "--json", *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of load (<= 600)")
    ap.add_argument("--fraction", type=float, default=0.8, help="share of max throughput")
    ap.add_argument("--python", default=os.environ.get("PEERBENCH_PYTHON", sys.executable))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arbiter-soak-"))
    mock_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "UPSTREAM_BASE": f"http://127.0.0.1:{mock_port}/v1",
        "PROXY_HOST": "127.0.0.1",
        "PROXY_PORT": str(port),
        "PEERBENCH_WORKDIR": str(work),
    }
    mock = subprocess.Popen(
        ["taskset", "-c", "0", args.python, str(PEERBENCH / "mock_upstream.py"),
         "--port", str(mock_port), "--delay-ms", "0"], start_new_session=True,
    )  # fmt: skip
    proxy = subprocess.Popen(
        ["taskset", "-c", "1", "bash", str(START)], env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    try:
        wait_ready(url)
        time.sleep(2.0)
        rest = rss_mb(proxy.pid)
        peak = loadgen(args.python, url, ["-c", "50", "-d", "5", "--warmup", "1"])
        rate = max(1.0, args.fraction * float(peak["rps"]))  # type: ignore[arg-type]

        def sample() -> None:
            t0 = time.monotonic()
            while not stop.wait(5.0):
                samples.append((round(time.monotonic() - t0, 1), round(rss_mb(proxy.pid), 1)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        run = loadgen(
            args.python,
            url,
            [
                "--rate",
                f"{rate:.0f}",
                "-d",
                str(args.duration),
                "-n",  # loadgen stops at 1M requests by default: let time end the run
                str(int(rate * args.duration) + 10_000),
                "--warmup",
                "2",
                "--max-conns",
                "64",
            ],
        )
        stop.set()
        sampler.join()
    finally:
        for p in (proxy, mock):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=20)
    values = [v for _, v in samples]
    early = values[: max(1, len(values) // 10)]
    baseline = sorted(early)[len(early) // 2]
    drift = 100 * (values[-1] - baseline) / baseline if baseline else 0.0
    spread = 100 * max(abs(v - baseline) for v in values) / baseline if baseline else 0.0
    latency = run.get("latency_ms") or {}  # loadgen's names: `ok`, `latency_ms.p50`
    print(
        f"max throughput {peak['rps']:.0f} req/s; soak at {rate:.0f} req/s for "
        f"{args.duration:.0f} s: served {run.get('ok')} (errors {run.get('errors')}), "
        f"p50 {latency.get('p50')} ms p99 {latency.get('p99')} ms"
    )
    print("rss samples (s, MB):", samples)
    print(
        f"rss at rest {rest:.1f} MB; early-run median {baseline:.1f} MB; end {values[-1]:.1f} MB;"
        f" drift {drift:+.1f}%; max deviation {spread:.1f}%"
    )
    print(
        json.dumps(
            {
                "rate_rps": round(rate),
                "max_rps": peak["rps"],
                "duration_s": args.duration,
                "measured_s": samples[-1][0] if samples else 0.0,
                "requests": run.get("ok"),
                "p50_ms": latency.get("p50"),
                "p99_ms": latency.get("p99"),
                "errors": run.get("errors"),
                "error_kinds": run.get("error_kinds"),
                "status_counts": run.get("status_counts"),
                "rss_rest_mb": round(rest, 1),
                "rss_early_mb": baseline,
                "rss_end_mb": values[-1],
                "rss_min_mb": min(values),
                "rss_max_mb": max(values),
                "drift_pct": round(drift, 2),
                "max_deviation_pct": round(spread, 2),
                "flat_within_10pct": spread <= 10.0,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
