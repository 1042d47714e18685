"""A queueing model of the 50% tail: the event loop and the recorder's writer on one core.

The loop serves requests first come first served (service times: gamma with the given mean and
coefficient of variation; `bench/tail_queue.py` measures both); requests arrive on loadgen's
fixed schedule. The writer wakes every flush interval with that interval's records; while both
want the core, each gets half (the GIL alternates every switch interval, 1 ms in `serve`).
Arms: no writer (the floor); unpaced (one transaction per batch); paced (transactions of
`--chunk` records, a rest of `--rest-ratio` x each one's duration between them; its CPU per
request is higher: the per-transaction work, measured by bench/tail_queue's neighbours).
It is a model (time steps of 0.05 ms), not a measurement: it says what the writer's bursts
alone do to the p99 at a given utilisation, on a machine with nothing else running.
Usage: python bench/tail_model.py [--rate 1187] [--service-ms 0.47] [--cv 0.1]
       [--writer-us 24] [--paced-writer-us 40]. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

DT_MS = 0.05
FLUSH_MS = 200.0


def sojourn_ms(
    rate: float, service: np.ndarray, writer_us: float, chunk: int, rest_ratio: float,
    seconds: float, records_per_request: float = 2.0,
) -> dict[str, float]:  # fmt: skip
    """p50 / p99 of queueing + service (ms) of `seconds` of requests at `rate`."""
    n = int(rate * seconds)
    arrivals = np.arange(n) * (1e3 / rate)
    per_record_ms = writer_us / 1e3 / records_per_request
    queue: list[list[float]] = []  # [remaining service, arrival]
    done: list[float] = []
    t, i = 0.0, 0
    writer_left = pending = rest_until = started = 0.0
    next_flush = FLUSH_MS
    while t < arrivals[-1] + 1000.0:
        while i < n and arrivals[i] <= t:
            queue.append([float(service[i]), float(arrivals[i])])
            i += 1
        if t >= next_flush:
            pending += rate * FLUSH_MS / 1e3 * records_per_request
            next_flush += FLUSH_MS
        if writer_left <= 0 and pending > 0 and t >= rest_until:
            take = min(pending, chunk) if chunk else pending
            pending -= take
            writer_left, started = take * per_record_ms, t
        share = 0.5 if queue and writer_left > 0 else 1.0
        if queue:
            queue[0][0] -= DT_MS * share
            if queue[0][0] <= 0:
                done.append(t + DT_MS - queue.pop(0)[1])
        if writer_left > 0:
            writer_left -= DT_MS * share
            if writer_left <= 0 and chunk:
                rest_until = t + DT_MS + rest_ratio * (t + DT_MS - started)
        t += DT_MS
    d = np.array(done)
    return {"p50_ms": round(float(np.percentile(d, 50)), 3),
            "p99_ms": round(float(np.percentile(d, 99)), 3)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1187.0, help="requests/s (quiet run's 50%%)")
    ap.add_argument("--service-ms", type=float, default=0.47, help="loop CPU per request")
    ap.add_argument("--cv", type=float, default=0.1, help="its coefficient of variation")
    ap.add_argument("--writer-us", type=float, default=24.0, help="unpaced writer CPU/request")
    ap.add_argument("--paced-writer-us", type=float, default=40.0, help="paced, per request")
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--rest-ratio", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=40.0)
    a = ap.parse_args()
    shape = 1.0 / a.cv**2
    service = np.random.default_rng(1).gamma(shape, a.service_ms / shape, int(a.rate * a.seconds))
    out: dict[str, Any] = {"rate": a.rate, "rho_loop": round(a.rate * a.service_ms / 1e3, 3)}
    out["no_writer"] = sojourn_ms(a.rate, service, 0.0, 0, 0.0, a.seconds)
    out["unpaced"] = sojourn_ms(a.rate, service, a.writer_us, 0, 0.0, a.seconds)
    out["paced"] = sojourn_ms(a.rate, service, a.paced_writer_us, a.chunk, a.rest_ratio, a.seconds)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
