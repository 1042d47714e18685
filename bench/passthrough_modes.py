"""bench/overhead's pass-through leg, one fresh sidecar per run, with what its figure hides.

bench/overhead's `passthrough_p50_ms` (peerbench, model `mock-gpt`, C=1) is bimodal on this
project's VMs: 0.57-0.62 ms in some runs, 0.96-1.02 in others, on the same code (twentieth
session, bench/results/overhead.profile.md). This replays that leg's sequence exactly as
peerbench's bench.py runs it (the start.sh sidecar pinned to CPU 1, the mock and the driver to
CPU 0; `--proxy-warmup`: 3 s at C=50; the direct C=1 point, during which the sidecar idles;
then the sidecar at C=1, 1 s warm-up and `--seconds` measured) and reads, for the measured
point, from the sidecar's /proc: CPU ms per request (all threads, the event loop's), the event
loop's wake-ups per request (voluntary context switches: each a sleep in epoll or on the GIL),
the other threads' wake-ups, and the mock's wake-ups per request. A request that sleeps twice
(waiting for the upstream's answer, then for the next request) pays two vCPU wake-ups and runs
its work on cold caches after each; one whose gaps are filled does not (the "lone premium",
bench/results/scale.md). Runs alternate variants and models (ABBA), each in a fresh sidecar.

With `--points K`, K points back to back in each sidecar: a mode that flips within one process
is the host's (a window of time), one that holds within each process but differs between them
is the process's (its start state).

A variant may also set the interpreter's start state, to test what a process's mode follows:
`PYTHON*` variables (`PYTHONHASHSEED=0`: the same dict/set layout in every process of it;
`PYTHONMALLOC=malloc`: the allocator, a probe only) and `aslr=off` (the sidecar run under
`setarch -R`: the same virtual address layout in every process of it). A mode that follows the
start state shows as a narrower spread in the variant that fixes it than in one that does not,
measured in the same run. `threads` lists, per point, each other thread's CPU ms and wake-ups per
request (by thread id order: 1 the first thread started after the loop's).

`--keep K` separates a process's share from the host's time on a busy host: K sidecars per variant
started once and measured again every round, interleaved (`--kept-sequence once --no-fresh`: their
C=1 points round-robin). Each point is divided by its round's median over every kept sidecar (the
host's load then) and, per variant, the spread of the processes' means is set against each one's
own rounds' spread, next to the same ratio over values shuffled among the processes within each
round (the control: no process share by construction).

Usage: python bench/passthrough_modes.py
          [--variant NAME=SRC[,ARBITER_BENCH_X=Y|PYTHONX=Y|aslr=off] ...]
          [--models mock-gpt,auto]
          [--runs 6] [--seconds 5] [--points 1]
          [--keep K [--kept-sequence each|once] [--no-fresh]]
Prints one line per run and a table; ends with one JSON line of every run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_per_request import cpu_of, thread_stats
from profile_overhead import PEERBENCH, PY, REPO, _free_port, _stop, _wait

START = REPO / "bench" / "peers" / "arbiter" / "start.sh"


def _wakes(pid: int) -> tuple[float, float, int, int]:
    """(CPU s of every thread, of the main thread, wake-ups of the main thread, of the others)."""
    total, loop, wakes, loop_wakes = cpu_of(pid)
    return total, loop, loop_wakes, wakes - loop_wakes


def _faults_preempts(pid: int) -> tuple[int, int]:
    """(minor page faults of the whole process, involuntary switches of its main thread): a
    fault is kernel work no bytecode or syscall count shows; a preemption (another task on the
    core) leaves the loop's caches cold, so it follows the host's load, not the process."""
    with open(f"/proc/{pid}/stat") as f:
        minflt = int(f.read().rsplit(")", 1)[1].split()[7])
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    at = status.index("nonvoluntary_ctxt_switches:")
    return minflt, int(status[at:].split(None, 2)[1])


def _threads(pid: int) -> dict[int, tuple[int, int]]:
    """{thread id: (CPU ns, wake-ups)} of every thread of `pid` but the main one."""
    return {tid: v for tid, v in thread_stats(pid).items() if tid != pid}


def _thread_rows(
    before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], n: int
) -> list[list[float]]:
    """[rank, CPU ms/req, wake-ups/req] of each other thread awake during the point; rank is the
    thread's place in start order (its id's), stable between processes of the same code."""
    rows = []
    for rank, tid in enumerate(sorted(after), 1):
        ns0, w0 = before.get(tid, (0, 0))
        ns1, w1 = after[tid]
        if ns1 > ns0 or w1 > w0:
            rows.append([rank, round((ns1 - ns0) / 1e6 / n, 4), round((w1 - w0) / n, 3)])
    return rows


def _load(url: str, model: str, c: int, seconds: float, warmup: float) -> dict[str, Any]:
    argv = ["taskset", "-c", "0", str(PY), str(PEERBENCH / "loadgen.py"), "--url", url]
    argv += ["--model", model, "-c", str(c), "-d", str(seconds), "--warmup", str(warmup)]
    argv += ["--json", "--timeout", "30"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds + 90)
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


class Leg:
    """A mock and a start.sh sidecar (one fresh process each) for the pass-through leg."""

    def __init__(self, name: str, src: str, work: Path, extra: dict[str, str]) -> None:
        self.name = name
        mport, port = _free_port(), _free_port()
        self.mock_url, self.url = f"http://127.0.0.1:{mport}", f"http://127.0.0.1:{port}"
        self.mock = subprocess.Popen(
            ["taskset", "-c", "0", str(PY), str(PEERBENCH / "mock_upstream.py"),
             "--port", str(mport)],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        env = dict(
            os.environ, UPSTREAM_BASE=f"{self.mock_url}/v1", PROXY_HOST="127.0.0.1",
            PROXY_PORT=str(port), PEERBENCH_WORKDIR=str(work), PYTHONPATH=src,
            ARBITER=str(Path(PY).parent / "arbiter"), **extra,
        )  # fmt: skip
        prefix = ["setarch", "-R"] if env.pop("aslr", "on") == "off" else []
        self.sidecar: subprocess.Popen[bytes] | None = None
        try:
            _wait(f"{self.mock_url}/health", self.mock)
            self.sidecar = subprocess.Popen(
                ["taskset", "-c", "1", *prefix, "bash", str(START)],
                env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            _wait(f"{self.url}/healthz", self.sidecar)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.sidecar is not None:
            _stop(self.sidecar)
        _stop(self.mock)

    def measure(
        self, model: str, seconds: float, points: int, sequence: bool = True
    ) -> list[dict[str, Any]]:
        """bench.py's sequence (unless `sequence` is false), then `points` C=1 points back to
        back."""
        assert self.sidecar is not None
        pid, mpid = self.sidecar.pid, self.mock.pid
        if sequence:
            _load(self.url, model, 50, 3.0, 0.0)  # bench.py's --proxy-warmup (its largest C)
            _load(self.mock_url, model, 1, 5.0, 1.0)  # the direct C=1 point
            _load(self.url, model, 1, 1.0, 0.0)  # the proxy point's warm-up
        rows = []
        for point in range(points):  # more than one: does a process keep its mode?
            t0, f0 = _threads(pid), _faults_preempts(pid)
            c0, l0, w0, o0 = _wakes(pid)
            m0 = _wakes(mpid)[2]
            r = _load(self.url, model, 1, seconds, 0.0)
            c1, l1, w1, o1 = _wakes(pid)
            m1 = _wakes(mpid)[2]
            t1, f1 = _threads(pid), _faults_preempts(pid)
            n = max(int(r["ok"]), 1)
            rows.append({
                "variant": self.name, "model": model, "point": point, "rps": r["rps"],
                "p50_ms": r["latency_ms"]["p50"], "cpu_ms": round((c1 - c0) * 1000 / n, 3),
                "loop_cpu_ms": round((l1 - l0) * 1000 / n, 3),
                "loop_wakes": round((w1 - w0) / n, 3), "other_wakes": round((o1 - o0) / n, 3),
                "mock_wakes": round((m1 - m0) / n, 3), "errors": r["errors"],
                "minflt": round((f1[0] - f0[0]) / n, 3),
                "loop_preempts": round((f1[1] - f0[1]) / n, 3),
                "threads": _thread_rows(t0, t1, n),
            })  # fmt: skip
        return rows


def one_run(
    name: str,
    src: str,
    model: str,
    seconds: float,
    work: Path,
    points: int = 1,
    extra: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    leg = Leg(name, src, work, extra or {})
    try:
        return leg.measure(model, seconds, points)
    finally:
        leg.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--variant", action="append",
        help="NAME=SRC[,K=V...] (default: this=python); K: start.sh's ARBITER_BENCH_*, the "
        "interpreter's PYTHON*, or aslr=off; e.g. poll=python,ARBITER_BENCH_IDLE_POLL_US=1000 or "
        "fixed=python,PYTHONHASHSEED=0,aslr=off",
    )  # fmt: skip
    ap.add_argument("--models", default="mock-gpt")
    ap.add_argument("--runs", type=int, default=6, help="fresh sidecars per variant and model")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument(
        "--points", type=int, default=1,
        help="C=1 points measured back to back in each sidecar (a mode kept or not)",
    )  # fmt: skip
    ap.add_argument(
        "--keep", type=int, default=0,
        help="also K sidecars per variant started once and measured again in every round "
        "(rows NAME@keptK): how far one process moves over the run's time, next to how far "
        "fresh processes differ (a mode of the process, or of the host's time)",
    )  # fmt: skip
    ap.add_argument(
        "--kept-sequence", choices=["each", "once"], default="each",
        help="the kept sidecars run bench.py's warm-up sequence every round, or before the "
        "first only (then a round is their C=1 points alone: many rounds in little time)",
    )  # fmt: skip
    ap.add_argument("--no-fresh", action="store_true", help="kept sidecars only (with --keep)")
    a = ap.parse_args(argv)
    variants = []
    for v in a.variant or ["this=python"]:  # NAME=SRC[,K=V...]: the sidecar's start settings
        name, _, rest = v.partition("=")
        src, *settings = rest.split(",")
        extra = dict(kv.split("=", 1) for kv in settings)
        if any(
            not k.startswith(("ARBITER_BENCH_", "PYTHON")) or k == "PYTHONPATH"
            for k in extra
            if k != "aslr"
        ):
            raise SystemExit(f"--variant {v}: only ARBITER_BENCH_*, PYTHON* or aslr=off")
        if extra.get("aslr", "off") != "off":
            raise SystemExit(f"--variant {v}: aslr takes only off")
        variants.append((name, src, extra))
    combos = [(n, s, e, m) for m in a.models.split(",") for n, s, e in variants]
    runs: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="arbiter-pt-modes-"))
    kept: list[tuple[Leg, str]] = []
    try:
        for k in range(max(0, min(a.keep, 4))):
            for name, src, extra, model in combos:
                leg = Leg(f"{name}@kept{k + 1}", src, work / f"k{k}-{name}-{model}", extra)
                kept.append((leg, model))
        runs = _rounds(a, combos, kept, work)
    finally:
        for leg, _ in kept:
            leg.stop()
    combos += [(leg.name, "", {}, model) for leg, model in kept]
    _table(runs, [c for c in combos if any(r["variant"] == c[0] for r in runs)])
    for b in between_within(runs):
        print(
            f"{b['name']}: {b['processes']} kept, {b['rounds']} rounds; CPU a request over the "
            f"round's median, per process: {', '.join(f'{m:.3f}' for m in b['means'])}; "
            f"between/within {b['ratio']:.2f} (shuffled: median {b['shuffled_median']:.2f}, "
            f"{b['above']:.0%} at or above)"
        )
    print(json.dumps(runs, separators=(",", ":")))
    return 0


def _rounds(
    a: argparse.Namespace,
    combos: list[tuple[str, str, dict[str, str], str]],
    kept: list[tuple[Leg, str]],
    work: Path,
) -> list[dict[str, Any]]:
    """Each round: a fresh sidecar per variant and model, then each kept one (order flipped
    every other round)."""
    runs: list[dict[str, Any]] = []
    started = 0
    for i in range(max(1, min(a.runs, 50))):
        rows: list[dict[str, Any]] = []
        for name, src, extra, model in combos if i % 2 == 0 else combos[::-1]:
            if a.no_fresh and kept:
                break
            started += 1  # a fresh sidecar, its own work folder
            folder = work / f"s{started}"
            rows += one_run(name, src, model, a.seconds, folder, a.points, extra)
        sequence = a.kept_sequence == "each" or i == 0
        for leg, kmodel in kept if i % 2 == 0 else kept[::-1]:
            rows += leg.measure(kmodel, a.seconds, a.points, sequence)
        for row in rows:
            row["run"], row["load"] = i, round(os.getloadavg()[0], 2)
            runs.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return runs


def _ratio(cells: dict[str, dict[int, float]]) -> tuple[list[float], float]:
    """(each process's mean, between/(within/sqrt(rounds))): the spread of the processes'
    means against what their own rounds' spread alone would give them."""
    means = [statistics.mean(v.values()) for v in cells.values()]
    within = statistics.mean(statistics.variance(v.values()) for v in cells.values()) ** 0.5
    k = min(len(v) for v in cells.values())
    return means, statistics.stdev(means) / max(within / k**0.5, 1e-9)


def between_within(runs: list[dict[str, Any]], shuffles: int = 500) -> list[dict[str, Any]]:
    """Per variant, its kept sidecars' CPU per request, each round's value divided by that
    round's median over every kept sidecar (the host's load then, which falls on all alike:
    they interleave): how far the processes' means differ (between) against how far each one's
    own rounds spread (within). The control: the same ratio with the values shuffled among the
    variant's processes within each round (no process state by construction); a ratio above
    most shuffled ones is a process's own cost, one among them none at this resolution."""
    by_round: dict[int, list[float]] = {}
    cells: dict[str, dict[str, dict[int, list[float]]]] = {}
    for r in runs:
        base, at, proc = r["variant"].partition("@")
        if at:
            by_round.setdefault(r["run"], []).append(r["cpu_ms"])
            name = f"{base} {r['model']}"
            cells.setdefault(name, {}).setdefault(proc, {}).setdefault(r["run"], [])
            cells[name][proc][r["run"]].append(r["cpu_ms"])
    level = {i: statistics.median(v) for i, v in by_round.items()}
    rng = random.Random(0)
    out = []
    for name, procs in cells.items():
        rounds = sorted(set.intersection(*(set(v) for v in procs.values())))
        if len(procs) < 2 or len(rounds) < 2:
            continue
        norm = {p: {i: statistics.mean(v[i]) / level[i] for i in rounds} for p, v in procs.items()}
        means, ratio = _ratio(norm)
        shuffled = []
        for _ in range(shuffles):
            perm: dict[str, dict[int, float]] = {p: {} for p in norm}
            for i in rounds:
                vals = [norm[p][i] for p in norm]
                rng.shuffle(vals)
                for p, v in zip(norm, vals, strict=True):
                    perm[p][i] = v
            shuffled.append(_ratio(perm)[1])
        out.append({
            "name": name, "processes": len(procs), "rounds": len(rounds), "means": means,
            "ratio": ratio, "shuffled_median": statistics.median(shuffled),
            "above": sum(x >= ratio for x in shuffled) / len(shuffled),
        })  # fmt: skip
    return out


def _table(runs: list[dict[str, Any]], combos: list[tuple[str, str, dict[str, str], str]]) -> None:
    print(
        "| variant | model | points | p50 ms | CPU ms/req | loop CPU | loop wake-ups/req | mock "
        "| per-process least CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, _, _, model in combos:
        sel = [r for r in runs if r["variant"] == name and r["model"] == model]

        def col(key: str, sel: list[dict[str, Any]] = sel) -> str:
            vals = sorted(r[key] for r in sel)
            return f"{statistics.median(vals):.3f} [{vals[0]:.3f}-{vals[-1]:.3f}]"

        # each process's cheapest point: the host's load only adds to a point's CPU, so with
        # --points > 1 this is the process's own cost, and its spread between processes the
        # start state's share
        least = [
            {"cpu_ms": min(r["cpu_ms"] for r in sel if r["run"] == i)}
            for i in sorted({r["run"] for r in sel})
        ]
        print(
            f"| {name} | {model} | {len(sel)} | {col('p50_ms')} | {col('cpu_ms')} | "
            f"{col('loop_cpu_ms')} | {col('loop_wakes')} | {col('mock_wakes')} | "
            f"{col('cpu_ms', least)} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
