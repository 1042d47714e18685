"""What edge27's request-path additions cost, for code variants side by side: the exact cache
key (`cache.keys.keys_for`, which now walks the messages, system and tools for prompt-cache
hints) and a chat request's tool checks (`check_tool_fields`, which now holds each strict
function's schema to OpenAI's strict subset).

Each variant (a PYTHONPATH) runs in its own child process; children take turns round after
round (ABAB...), so host noise falls on both; per cell the median over rounds of the best of
`--reps` calls, and the ratio to the first variant measured in the same run.

    python bench/edge27_request_checks.py --variant base=/work/wt/base27/python --variant new=python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

TEXT = "Summarise the causes of the French Revolution in three sentences. " * 4


def _chat(turns: int) -> dict[str, Any]:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{TEXT} {i}"}
        for i in range(turns)
    ]
    return {"model": "auto", "messages": messages, "temperature": 0.2}


def _claude(turns: int) -> dict[str, Any]:
    """An Anthropic conversation with text blocks, a breakpoint on the last one (a rolling one)."""
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant",
         "content": [{"type": "text", "text": f"{TEXT} {i}"}]}
        for i in range(turns)
    ]  # fmt: skip
    messages[-1]["content"][0]["cache_control"] = {"type": "ephemeral"}
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    return {"model": "auto", "max_tokens": 100, "messages": messages, "system": system}


def _tools(k: int) -> dict[str, Any]:
    """`k` strict function tools, each a closed object with a nested closed object."""
    params = {
        "type": "object", "additionalProperties": False, "required": ["city", "when"],
        "properties": {"city": {"type": "string"},
                       "when": {"type": "object", "additionalProperties": False,
                                "required": ["day"], "properties": {"day": {"type": "string"}}}},
    }  # fmt: skip
    tools = [{"type": "function", "function": {"name": f"f{i}", "parameters": params,
                                               "strict": True}} for i in range(k)]  # fmt: skip
    return {"model": "auto", "messages": [{"role": "user", "content": TEXT}], "tools": tools}


def cells() -> dict[str, Callable[[], Any]]:
    from arbiter.cache.keys import keys_for
    from arbiter.principal import Principal
    from arbiter.surfaces.openai_chat_tools import check_tool_fields

    who = Principal(tenant="t", key_id="k")
    out: dict[str, Callable[[], Any]] = {}
    for name, body, protocol in (
        ("key chat 1 turn", _chat(1), "openai"),
        ("key chat 40 turns", _chat(40), "openai"),
        ("key claude 40 turns", _claude(40), "anthropic"),
        ("key chat 400 turns", _chat(400), "openai"),
    ):
        out[name] = lambda b=body, p=protocol: keys_for(p, b, who)  # type: ignore[misc]
    for k in (1, 20):
        tools = _tools(k)
        out[f"tools {k} strict"] = lambda b=tools: check_tool_fields(b)  # type: ignore[misc]
    return out


def child(path: str, reps: int, make: Callable[[], dict[str, Callable[[], Any]]] = cells) -> None:
    sys.path.insert(0, path)
    calls = make()
    print(json.dumps(sorted(calls)), flush=True)
    for _ in sys.stdin:
        result = {}
        for name, call in calls.items():
            best = float("inf")
            for _ in range(reps):
                start = time.perf_counter()
                call()
                best = min(best, time.perf_counter() - start)
            result[name] = best * 1e6
        print(json.dumps(result), flush=True)


def main(make: Callable[[], dict[str, Callable[[], Any]]] = cells, script: str = __file__) -> None:
    """`make`: the cells, `script`: the file a child runs (another bench's, reusing this
    runner: edge27b_request_checks.py)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", required=True, help="name=PYTHONPATH")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.reps, make)
    variants = [v.split("=", 1) for v in args.variant]
    procs = {}
    for name, path in variants:
        env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
        procs[name] = subprocess.Popen(
            [sys.executable, script, "--variant", "x=y", "--child", os.path.abspath(path),
             "--reps", str(args.reps)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
    names = None
    for p in procs.values():
        assert p.stdout is not None
        names = json.loads(p.stdout.readline())
    times: dict[str, dict[str, list[float]]] = {n: {} for n, _ in variants}
    for _ in range(args.rounds):
        for name, p in procs.items():  # ABAB: one round of each in turn
            assert p.stdin is not None and p.stdout is not None
            p.stdin.write("go\n")
            p.stdin.flush()
            for cell, us in json.loads(p.stdout.readline()).items():
                times[name].setdefault(cell, []).append(us)
    for p in procs.values():
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=30)
    first = variants[0][0]
    print(f"{'cell':24}" + "".join(f"{n:>22}" for n, _ in variants))
    summary = {}
    for cell in names or []:
        row = f"{cell:24}"
        base = statistics.median(times[first][cell])
        for name, _ in variants:
            med = statistics.median(times[name][cell])
            lo, hi = min(times[name][cell]), max(times[name][cell])
            row += f"{med:9.2f} us ({med / base:4.2f}x)"[:22].rjust(22)
            summary[f"{name}|{cell}"] = {"median_us": med, "min_us": lo, "max_us": hi,
                                         "ratio": med / base}  # fmt: skip
        print(row)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
