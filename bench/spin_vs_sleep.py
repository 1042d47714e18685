"""Does the same work cost less CPU after a spin than after a sleep, on this host? (issue 18)

The tail bench's lone request pays ~1.8x the CPU of one in a burst, measured as the same calls
running 1.5-3x slower after the event loop slept (bench/results/scale.md). server.idle_poll_us
(idle_poll.py) keeps the loop polling instead of sleeping for a window; this isolates the
premise without the sidecar, the mock or the load generator: one process (pinned with
`--core`) runs a fixed piece of interpreter work W (JSON parse and dump of a chat body, dict
and string work, a regex, small function calls: ~the mix a request runs), then waits a gap G
either by sleeping (`time.sleep`: the thread blocks, the core may halt or run others) or by
spinning (`time.perf_counter` until G passed), alternating the two every iteration so the
host's load drifts equally over both, and reads W's thread CPU time after each.

Printed per gap: median CPU us of W after a sleep, after a spin, their ratio, and two controls
measured in the same run: W back to back with no gap (hot), and an A/A split (the sleeps'
iterations split in two by alternation: the ratio noise alone gives).
Usage: python bench/spin_vs_sleep.py [--core 0] [--gaps-us 300,1000,3000] [--iterations 400]
Ends with one JSON line
{"GAP_US": {"sleep_us": a, "spin_us": b, "ratio": a/b, "aa": c}, "hot_us": h}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time

import orjson

BODY = orjson.dumps({
    "model": "auto",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. " * 8},
        {"role": "user", "content": "Write a haiku about rain on a tin roof, then explain it."},
    ],
    "temperature": 0.7, "max_tokens": 256, "stream": False,
    "metadata": {f"k{i}": f"value {i}" for i in range(12)},
})  # fmt: skip
WORDS = re.compile(r"[a-z]+")


def _step(d: dict[str, object], i: int) -> int:
    return len(d) + i


def work() -> int:
    """~a few hundred us of the kinds of interpreter work a routed request does."""
    total = 0
    for _ in range(6):
        body = orjson.loads(BODY)
        msgs = body["messages"]
        text = " ".join(m["content"] for m in msgs).lower()
        total += len(WORDS.findall(text))
        headers = {f"x-h{i}": str(i) for i in range(20)}
        for i in range(40):
            total += _step(headers, i) if headers.get(f"x-h{i % 25}") else 0
        out = {"id": "x" * 24, "choices": [{"message": {"content": text[:200]}}], "usage": body}
        total += len(orjson.dumps(out))
        total += sum(sorted((hash(k) & 0xFFFF) for k in headers)[:5])
    return total


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _timed() -> float:
    t0 = time.thread_time()
    work()
    return (time.thread_time() - t0) * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--core", type=int, default=None)
    ap.add_argument("--gaps-us", default="300,1000,3000")
    ap.add_argument("--iterations", type=int, default=400)
    a = ap.parse_args(argv)
    if a.core is not None:
        os.sched_setaffinity(0, {a.core})
    n = min(max(a.iterations, 20), 20_000)
    gaps = [int(g) for g in a.gaps_us.split(",") if g.strip().isdigit()]
    for _ in range(50):  # warm: imports, allocator, the regex's cache
        work()
    hot = [_timed() for _ in range(n)]
    out: dict[str, object] = {"hot_us": round(statistics.median(hot), 1)}
    print(f"load average {os.getloadavg()[0]:.1f}; W back to back (hot): "
          f"median {out['hot_us']} us")  # fmt: skip
    for gap_us in gaps:
        gap = gap_us / 1e6
        after = {"sleep": [], "spin": []}  # type: dict[str, list[float]]
        for i in range(2 * n):
            how = "sleep" if i % 2 == 0 else "spin"
            if how == "sleep":
                time.sleep(gap)
            else:
                _spin(gap)
            after[how].append(_timed())
        sl, sp = statistics.median(after["sleep"]), statistics.median(after["spin"])
        # A/A: the sleeps' iterations split by alternation; ratio = the noise of a median ratio
        aa = statistics.median(after["sleep"][0::2]) / statistics.median(after["sleep"][1::2])
        out[str(gap_us)] = {"sleep_us": round(sl, 1), "spin_us": round(sp, 1),
                            "ratio": round(sl / sp, 3), "aa": round(aa, 3)}  # fmt: skip
        print(f"gap {gap_us:5d} us: W after a sleep {sl:7.1f} us, after a spin {sp:7.1f} us, "
              f"sleep/spin {sl / sp:.3f} (A/A control {aa:.3f}); "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
