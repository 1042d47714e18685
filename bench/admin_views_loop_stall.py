"""How long `GET /arbiter/policy` and `GET /arbiter/admin/models` hold the event loop, base vs
this tree, interleaved in one run (each tree in its own child process, its own code and tests).

The policy holds 96,000 arms (3,000 tenants x 8 tasks x 4 models, synced to the store: a tree
from the twenty-first session on pages them from it by a key cursor), the registry 15,000 models
(about 8 MB of rows). A ticker wakes every 1 ms on the sidecar's loop (switch interval 1 ms, as
`arbiter serve` sets); its longest gap while a read is answered is the stall: the time no other
request could be served. A tree that pages is read page by page, every page (the whole view, as
a client walks it) and its first page alone. The collector is set as `arbiter serve` sets it
(the set-up frozen, `gc_tuning.tune_for_serving`): untuned, a full collection of the 96,000
arms' garbage landed in some page's gap (625 ms worst page; 105 ms with the collector off).

    PEERBENCH_DIR=... ARBITER_SHARED_DIR=... python bench/admin_views_loop_stall.py \\
        --base /work/wt/base21 --ours . [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TENANTS, TASKS, MODELS_PER_ARM, REGISTRY_MODELS = 3_000, 8, 4, 15_000


async def _stall_while(coro: Any) -> tuple[float, Any]:
    """The loop's longest gap (ms) between 1 ms ticks while `coro` runs, and its result."""
    longest, running = 0.0, True

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    try:
        result = await coro
    finally:
        running = False
        await ticker
    return longest * 1000, result


async def _walk(client: Any, path: str, headers: dict[str, str], pages: bool) -> dict[str, Any]:
    """Read `path` whole (one answer) or page by page; the stall, time and bytes of it."""
    t0 = time.perf_counter()
    worst, total, n, after = 0.0, 0, 0, None
    first: dict[str, float] = {}
    stalls: list[float] = []
    while True:
        params = {"after": after} if after else {}
        stall, r = await _stall_while(client.get(path, params=params, headers=headers))
        assert r.status_code == 200, r.text[:300]
        worst, total, n = max(worst, stall), total + len(r.content), n + 1
        stalls.append(stall)
        if not first:
            first = {"stall_ms": stall, "bytes": len(r.content)}
        body = r.json()
        if not (pages and body.get("has_more")):
            break
        after = body["last_id"]
    return {"stall_ms": worst, "median_page_stall_ms": statistics.median(stalls),
            "bytes": total, "pages": n,
            "wall_ms": (time.perf_counter() - t0) * 1000, "first_page": first}  # fmt: skip


async def _child() -> dict[str, Any]:
    sys.setswitchinterval(0.001)
    from tests.inproc import sidecar_in_process

    with tempfile.TemporaryDirectory() as tmp:
        async with sidecar_in_process(Path(tmp)) as sc:
            s = sc.services
            models = [m.name for m in s.pool][:MODELS_PER_ARM]
            from arbiter.classify import ALL_TASKS

            for t in range(TENANTS):
                for task in ALL_TASKS[:TASKS]:
                    for model in models:
                        s.policy.add((f"tenant-{t:05d}", task, model), 3.0, 1.0, 4.0)
            # into the store, as a serving replica's arms are (its sync): a tree that pages
            # from the store reads them there (store/arm_pages.py)
            await asyncio.to_thread(s.sync_policy)
            reg = s.registry
            template = reg[models[0]]
            bulk = {f"bulk/model-{i:06d}": dataclasses.replace(template, name=f"bulk/model-{i:06d}")
                    for i in range(REGISTRY_MODELS)}  # fmt: skip
            reg._configured = {**reg._configured, **bulk}  # both trees' field: no API adds models
            reg._models = {**reg._models, **bulk}
            gc.freeze()  # as `arbiter serve` does after start-up, then its collector's tuning
            from arbiter import gc_tuning

            gc_tuning.tune_for_serving(idle_collector=True)
            probe = await sc.client.get("/arbiter/policy", params={"limit": 1}, headers=sc.admin)
            pages = probe.status_code == 200  # the base tree takes no `limit`
            out: dict[str, Any] = {"pages": pages}
            for name, path in (("policy", "/arbiter/policy"), ("models", "/arbiter/admin/models")):
                out[name] = await _walk(sc.client, path, sc.admin, pages)
            # the control: the idle loop's longest gap over as long as the policy's walk took
            # (a host's noise grows with the time watched: the worst of 96 pages is a max too)
            span = min(out["policy"]["wall_ms"] / 1000, 30.0)
            idle, _ = await _stall_while(asyncio.sleep(span))
            out["idle_stall_ms"], out["idle_s"] = idle, span
            return out


def run_in_tree(script: Path, tree: Path, ours: Path) -> dict[str, Any]:
    """`script --child` with `tree`'s code (its python/ and bench/ first) and the bench helpers
    (`bench.*`) of `ours` behind them: the child's last stdout line, as JSON."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree / "python"), str(tree), str(ours)]),
    }
    done = subprocess.run(
        [sys.executable, str(script), "--child"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{tree}: child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def interleaved_runs(
    script: Path, base: Path, ours: Path, rounds: int
) -> dict[str, list[dict[str, Any]]]:
    """`rounds` runs of `script`'s child per tree, base and ours taking turns (the machine's
    load falls on both alike)."""
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "ours": []}
    for _ in range(rounds):
        for label, tree in (("base", base), ("ours", ours)):
            runs[label].append(run_in_tree(script, tree.resolve(), ours.resolve()))
    return runs


def ab_args(doc: str | None, rounds: int) -> argparse.Namespace:
    """An interleaved base-vs-ours stall bench's command line (--base, --ours, --rounds, and
    the hidden --child its runs use)."""
    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    ap.add_argument("--base", type=Path, default=Path("/work/wt/base21"))
    ap.add_argument("--ours", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args()


def main() -> None:
    args = ab_args(__doc__, rounds=2)
    if args.child:
        print(json.dumps(asyncio.run(_child())))
        return
    runs = interleaved_runs(Path(__file__).resolve(), args.base, args.ours, args.rounds)
    print(f"{TENANTS * TASKS * MODELS_PER_ARM:,} arms, {REGISTRY_MODELS:,} registry models; "
          f"{args.rounds} interleaved runs each, median (max) over runs")  # fmt: skip
    for view in ("policy", "models"):
        for label, rs in runs.items():
            r0 = rs[0][view]
            walk = [r[view]["wall_ms"] for r in rs]
            worst = [r[view]["stall_ms"] for r in rs]
            page = [r[view]["median_page_stall_ms"] for r in rs]
            first = [r[view]["first_page"]["stall_ms"] for r in rs]
            print(f"{view:7s} {label:4s}: {r0['pages']} answer(s), {r0['bytes'] / 1e6:.1f} MB; "
                  f"the whole walk {statistics.median(walk):,.0f} ms (max {max(walk):,.0f}); "
                  f"loop stall: first page {statistics.median(first):.1f} ms, a page's median "
                  f"{statistics.median(page):.1f} ms, the worst page "
                  f"{statistics.median(worst):.1f} ms (max {max(worst):.1f})")  # fmt: skip
        b = statistics.median([r[view]["wall_ms"] for r in runs["base"]])
        o = statistics.median([r[view]["wall_ms"] for r in runs["ours"]])
        print(f"{view:7s} whole walk, ratio base/ours {b / max(o, 1e-9):.1f}x")
    idle = [r["idle_stall_ms"] for rs in runs.values() for r in rs]
    span = max(r["idle_s"] for rs in runs.values() for r in rs)
    print(
        f"control: the idle loop's longest 1 ms tick gap over as long as a policy walk "
        f"took (up to {span:.1f} s), {min(idle):.1f}-{max(idle):.1f} ms (the host's floor)"
    )


if __name__ == "__main__":
    main()
