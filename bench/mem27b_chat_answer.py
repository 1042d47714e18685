"""Large non-stream chat answers through a real `arbiter serve` (probe23a's raw-socket upstream,
as bench/embeddings_serve.py), variants alternating, one child per variant per round: the
sidecar's peak RSS (VmHWM, reset after start) while `--concurrent` official-SDK clients each
get one chat.completion whose content is `--mb` MB of text, and the longest `/healthz` round
trip of a poller in a process of its own. Both trees get the same limits: a 256 MiB response
cap and a `--budget-mib` answer budget (server.max_answer_bytes_in_flight) that does not bind.

`--timeline`: also the sidecar's RSS growth over its start, MB, every 50 ms (read, parse,
write, freed: where the copies are held).

    python bench/mem27b_chat_answer.py --variant a=/work/wt/base27/python --variant b=python \\
        [--rounds 3] [--concurrent 6] [--mb 100] [--timeline]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embeddings_serve import _POLL, _rss_kb


def _child(mb: int, concurrent: int, budget_mib: int, timeline: bool, tokens: int) -> None:
    import orjson
    from tests.probe23a_rig import rig, whole

    content = ("lorem ipsum dolor sit amet " * (mb * 1_000_000 // 27 + 1))[: mb * 1_000_000]
    answer = orjson.dumps({
        "id": "chatcmpl-big", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": tokens + 5},
    })  # fmt: skip
    del content

    def edit(text: str) -> str:  # room for the answer (both trees) and for a loaded host
        text = text.replace("total_timeout_s = 6.0", "total_timeout_s = 300.0")
        text = text.replace("deadline_s = 8.0", "deadline_s = 400.0")
        line = f"max_answer_bytes_in_flight = {budget_mib << 20}\n"
        text = text.replace("[server]\n", "[server]\n" + line, 1)
        big = "max_response_bytes = 268435456\n"
        return text.replace("[upstreams.ro]\n", "[upstreams.ro]\n" + big, 1)

    with tempfile.TemporaryDirectory() as tmp, rig(Path(tmp), edit) as r:
        r.upstream.scripts["big"] = lambda sock, path, body: whole(sock, answer)
        pid = r.sidecar.proc.proc.pid
        before = _rss_kb(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM from here
        poll = subprocess.Popen(
            [sys.executable, "-c", _POLL, r.sidecar.root_url + "/healthz", "20"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.0)
        errors: list[str] = []
        samples: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.05):
                samples.append((_rss_kb(pid, "VmRSS") - before) // 1024)

        sampler = threading.Thread(target=sample)
        sampler.start()

        def one(i: int) -> None:
            try:
                got = r.oa.chat.completions.create(
                    model="oa-1", messages=[{"role": "user", "content": f"[[p:big]] {i}"}],
                    timeout=600,
                )  # fmt: skip
                text = got.choices[0].message.content or ""
                assert len(text) == mb * 1_000_000 and got.id == "chatcmpl-big", got.id
            except Exception as err:
                errors.append(repr(err)[:200])

        started = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrent)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        time.sleep(0.5)
        sampling.set()
        sampler.join()
        peak = _rss_kb(pid, "VmHWM")
        out, _ = poll.communicate(timeout=60)
        print(json.dumps({
            "rss_before_mb": round(before / 1024), "peak_mb": round(peak / 1024),
            "over_answers": round((peak - before) / 1024 / (mb * concurrent), 2),
            "healthz_worst_ms": float(out.strip() or 0), "wall_s": round(wall, 1),
            "errors": errors, **({"timeline_mb": samples} if timeline else {}),
        }))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", action="append", help="name=path to python/")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrent", type=int, default=6)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--budget-mib", type=int, default=4096)
    ap.add_argument("--timeline", action="store_true")
    ap.add_argument(
        "--completion-tokens",
        type=int,
        default=-1,
        help="the answer's usage (default: its length / 4, past what the call may bill)",
    )
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        tokens = a.mb * 250_000 if a.completion_tokens < 0 else a.completion_tokens
        return _child(a.mb, a.concurrent, a.budget_mib, a.timeline, tokens)
    if not a.variant:
        ap.error("--variant is required")
    trees = dict(v.split("=", 1) for v in a.variant)
    root = Path(__file__).resolve().parent.parent
    for r in range(a.rounds):
        for name in list(trees) if r % 2 == 0 else list(reversed(trees)):
            env = {**os.environ, "PYTHONPATH": f"{Path(trees[name]).resolve()}:{root}"}
            args = [sys.executable, __file__, "--child", "--mb", str(a.mb), "--concurrent",
                    str(a.concurrent), "--budget-mib", str(a.budget_mib),
                    "--completion-tokens", str(a.completion_tokens),
                    *(["--timeline"] if a.timeline else [])]  # fmt: skip
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
            got: dict[str, Any] = (
                json.loads(done.stdout.strip().splitlines()[-1])
                if done.returncode == 0 else {"failed": done.stderr[-400:]}
            )  # fmt: skip
            print(f"round {r} {name}: {json.dumps(got)} load {os.getloadavg()[0]:.1f}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
