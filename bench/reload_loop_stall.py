"""How long a config reload holds the event loop at 1,005 models, base vs this tree, interleaved
in one run (each tree in its own child process, its own code).

A reload (`Services.apply_settings`) of a config with 1,005 models, one price changed each time:
a ticker wakes every 1 ms on the loop (switch interval 1 ms, as `arbiter serve` sets) and its
longest gap while the reload runs is the stall: the time no request could be served. Base built
the new registry (`Registry.apply`, ~23 ms) on the loop; this tree works it out in a thread and
swaps it in. The control: the idle loop's longest gap over as long as the reloads took.

    PEERBENCH_DIR=... ARBITER_SHARED_DIR=... python bench/reload_loop_stall.py \\
        --base /work/wt/base21 --ours . [--rounds 3]
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.admin_views_loop_stall import _stall_while, ab_args, interleaved_runs

MODELS, RELOADS = 1_005, 8


async def _child() -> dict[str, Any]:
    sys.setswitchinterval(0.001)
    from tests.inproc import sidecar_in_process

    with tempfile.TemporaryDirectory() as tmp:
        async with sidecar_in_process(Path(tmp)) as sc:
            s = sc.services
            template = next(iter(s.settings.models.values()))
            models = dict(s.settings.models)
            for i in range(MODELS - len(models)):
                name = f"bulk/model-{i:05d}"
                models[name] = dataclasses.replace(template, name=name, upstream_model=name)
            await s.apply_settings(dataclasses.replace(s.settings, models=models))  # warm
            gc.freeze()  # as `arbiter serve` does after start-up, then its collector's tuning
            from arbiter import gc_tuning

            gc_tuning.tune_for_serving(idle_collector=True)
            stalls, cpu, t0 = [], [], time.perf_counter()
            for i in range(RELOADS):
                name = f"bulk/model-{i:05d}"
                m = models[name]
                models = {**models, name: dataclasses.replace(m, price_in_per_mtok=1.0 + i)}
                new = dataclasses.replace(s.settings, models=models)
                c0 = time.thread_time()  # the loop thread's CPU: its own work, not the GIL wait
                stall, _ = await _stall_while(s.apply_settings(new))
                cpu.append((time.thread_time() - c0) * 1000)
                assert s.registry[name].price_in_per_mtok == 1.0 + i
                stalls.append(stall)
            span = time.perf_counter() - t0
            c0 = time.thread_time()
            idle, _ = await _stall_while(asyncio.sleep(min(span, 10.0) / RELOADS))
            return {"stalls_ms": stalls, "loop_cpu_ms": cpu, "span_s": span,
                    "idle_stall_ms": idle, "idle_cpu_ms": (time.thread_time() - c0) * 1000,
                    "models": len(s.registry.view())}  # fmt: skip


def main() -> None:
    args = ab_args(__doc__, rounds=3)
    if args.child:
        print(json.dumps(asyncio.run(_child())))
        return
    runs = interleaved_runs(Path(__file__).resolve(), args.base, args.ours, args.rounds)
    print(f"{runs['ours'][0]['models']:,} models, {RELOADS} reloads per run, {args.rounds} "
          "interleaved runs each")  # fmt: skip
    med = {}
    for label, rs in runs.items():
        every = [x for r in rs for x in r["stalls_ms"]]
        med[label] = statistics.median(every)
        loop_cpu = statistics.median([x for r in rs for x in r["loop_cpu_ms"]])
        print(
            f"{label:4s} loop stall per reload: median {med[label]:.1f} ms, "
            f"p90 {statistics.quantiles(every, n=10)[-1]:.1f} ms, max {max(every):.1f} ms; "
            f"the loop thread's CPU per reload (its own work) median {loop_cpu:.1f} ms"
        )
    print(f"ratio base/ours (median) {med['base'] / max(med['ours'], 1e-9):.1f}x")
    idle = [r["idle_stall_ms"] for rs in runs.values() for r in rs]
    idle_cpu = [r["idle_cpu_ms"] for rs in runs.values() for r in rs]
    print(
        f"control: the idle loop's longest 1 ms tick gap over as long as a reload took, "
        f"{min(idle):.1f}-{max(idle):.1f} ms (the host's floor); its thread's CPU (the "
        f"ticker) {min(idle_cpu):.1f}-{max(idle_cpu):.1f} ms"
    )


if __name__ == "__main__":
    main()
