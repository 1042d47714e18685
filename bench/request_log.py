"""What the per-request log line and the request id cost on the request path: the RequestLog
object and its context variable, the id check, the decision copied in, and the line itself
(text and JSON, written to /dev/null by the real handler and formatters), next to the same with
info logging off. Also the telemetry hook when traces are off. Prints a table, then one JSON
line. Bounded: a fixed number of calls per case. Usage: python bench/request_log.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from arbiter import logs, request_log, telemetry
from arbiter.records import Attempt, DecisionRecord

RECORD = DecisionRecord(
    id="dec_0123456789abcdef", ts=0.0, tenant="search-team", task="code", mode="routed",
    chosen_model="sim-small", reason="cheapest model over the bar (0.93 >= 0.9 x 0.97)",
    candidates=(), attempts=(Attempt("sim-small", True, 12.0),), status="ok", cost_usd=1.2e-5,
    baseline_model="sim-premium", baseline_cost_usd=9.1e-5, latency_ms=14.2, prompt_tokens=120,
    completion_tokens=310,
)  # fmt: skip


def one_request() -> None:
    """What _guard and the pipeline add per request, minus the work they wrap."""
    ctx = request_log.RequestLog(request_log.request_id("client-req-42"), "chat")
    token = request_log.CURRENT.set(ctx)
    if telemetry.TRACER is not None:  # the hook, off
        pass
    request_log.CURRENT.get()  # the upstream header's lookup
    ctx.decided(RECORD)
    ctx.upstream_request_id = "req_upstream_1"
    request_log.CURRENT.reset(token)
    ctx.finish(200, None, None)


def per_call_us(fn: Callable[[], object], calls: int, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - t0) / calls / 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls, repeats = (2_000, 5) if args.quick else (20_000, 7)
    results = {}
    with open(os.devnull, "w") as sink:
        for name, level, fmt in (
            ("info_text", "info", "text"),
            ("info_json", "info", "json"),
            ("warning_level (line off)", "warning", "text"),
        ):
            handler = logs.configure(level, fmt, {"sim-small": "sim"})
            handler.setStream(sink)
            results[name] = per_call_us(one_request, calls, repeats)
    print(f"{'case':28} {'us/request':>10}")
    for name, us in results.items():
        print(f"{name:28} {us:10.2f}")
    print(json.dumps({"bench": "request_log", "us_per_request": {
        k.split(" ")[0]: round(v, 2) for k, v in results.items()}}))  # fmt: skip


if __name__ == "__main__":
    main()
