"""Large /v1/embeddings answers through a real `arbiter serve`, base vs this tree, interleaved:
the sidecar's peak RSS and the longest `/healthz` round trip of a client polling every 10 ms in
a process of its own (the stall every other tenant saw) while `--concurrent` clients each get
one answer of `--inputs` x `--dims` floats (2,048 x 1,536: ~62 MB) from probe23a's raw-socket
upstream on 127.0.0.1 (tests/probe23a_rig.py).

    python bench/embeddings_serve.py --base /work/wt/base25 --ours . [--rounds 2]
        [--ours-budget-mib 128]  (this tree's server.max_answer_bytes_in_flight; mem26)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

_POLL = """
import sys, time, httpx
worst, end = 0.0, time.monotonic() + float(sys.argv[2])
with httpx.Client(timeout=30) as c:
    while time.monotonic() < end:
        t = time.perf_counter(); c.get(sys.argv[1]); worst = max(worst, time.perf_counter() - t)
        time.sleep(0.01)
print(round(worst * 1000, 1))
"""


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(inputs: int, dims: int, concurrent: int, budget_mib: int) -> None:
    import orjson
    from tests.probe23a_rig import rig, whole

    rng = random.Random(7)
    answer = orjson.dumps({
        "object": "list", "model": "oa-1",
        "data": [{"object": "embedding", "index": i,
                  "embedding": [rng.uniform(-1, 1) for _ in range(dims)]} for i in range(inputs)],
        "usage": {"prompt_tokens": inputs, "total_tokens": inputs},
    })  # fmt: skip

    def edit(text: str) -> str:  # room for the answer (both trees) and for a loaded host
        big = "max_response_bytes = 268435456\n"
        text = text.replace("total_timeout_s = 6.0", "total_timeout_s = 120.0")
        if budget_mib:  # server.max_answer_bytes_in_flight (mem26; a tree that has it)
            line = f"max_answer_bytes_in_flight = {budget_mib << 20}\n"
            text = text.replace("[server]\n", "[server]\n" + line, 1)
        return text.replace("deadline_s = 8.0", "deadline_s = 150.0").replace(
            "[upstreams.ro]\n", "[upstreams.ro]\n" + big, 1
        )

    with tempfile.TemporaryDirectory() as tmp, rig(Path(tmp), edit) as r:
        r.upstream.scripts["big"] = lambda sock, path, body: whole(sock, answer)
        pid = r.sidecar.proc.proc.pid
        before = _rss_kb(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        poll = subprocess.Popen(
            [sys.executable, "-c", _POLL, r.sidecar.root_url + "/healthz", "20"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.0)
        errors: list[str] = []

        def one(i: int) -> None:
            try:
                got = r.oa.embeddings.create(
                    model="oa-1", input=[f"[[p:big]] {i}"] + ["x"] * (inputs - 1),
                    encoding_format="float", timeout=600,  # (a wait for room is no error)
                )  # fmt: skip
                assert len(got.data) == inputs
            except Exception as err:
                errors.append(repr(err)[:200])

        started = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrent)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        peak = _rss_kb(pid, "VmHWM")
        out, _ = poll.communicate(timeout=60)
        print(json.dumps({
            "rss_before_mb": round(before / 1024), "peak_mb": round(peak / 1024),
            "healthz_worst_ms": float(out.strip() or 0), "wall_s": round(wall, 2),
            "errors": errors,
        }))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path)
    ap.add_argument("--ours", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--inputs", type=int, default=2048)
    ap.add_argument("--dims", type=int, default=1536)
    ap.add_argument("--concurrent", type=int, nargs="+", default=[1, 6])
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--ours-budget-mib", type=int, default=0, help="ours only: the answer budget")
    a = ap.parse_args()
    if a.child:
        return _child(a.inputs, a.dims, a.concurrent[0], a.ours_budget_mib)
    if a.base is None:
        ap.error("--base is required")
    trees = {"base": a.base.resolve(), "ours": a.ours.resolve()}
    root = Path(__file__).resolve().parent.parent
    for n in a.concurrent:
        for r in range(a.rounds):
            for name in list(trees) if r % 2 == 0 else list(reversed(trees)):
                env = {**os.environ, "PYTHONPATH": f"{trees[name] / 'python'}:{root}"}
                args = [sys.executable, __file__, "--child", "--inputs", str(a.inputs),
                        "--dims", str(a.dims), "--concurrent", str(n), "--ours-budget-mib",
                        str(a.ours_budget_mib if name == "ours" else 0)]  # fmt: skip
                done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
                got: dict[str, Any] = (
                    json.loads(done.stdout.strip().splitlines()[-1])
                    if done.returncode == 0 else {"failed": done.stderr[-400:]}
                )  # fmt: skip
                print(f"x{n} round {r} {name}: {json.dumps(got)} load {os.getloadavg()[0]:.1f}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
