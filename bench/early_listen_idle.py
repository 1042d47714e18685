"""How long a liveness probe waits behind idle connections during a lone sidecar's start-up
(early_listen.py), for code variants side by side (ops27).

The early listener answers 32 connections at once. Each round, for each variant in turn (a
PYTHONPATH, in a child process of its own: ABAB...), a listener on a loopback port gets `--idle`
connections that send nothing (or, `--trickle`, half a request head), then one `/livez` probe
whose whole exchange is timed; the control is the same probe on the same listener before any
idle connection opened (measured in the same child, the same round). Prints, per variant, the
median and range over rounds of both, and the probe's time as a multiple of its control.

    python bench/early_listen_idle.py --variant base=/work/wt/base27/python --variant new=python
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack

PROBE = b"GET /livez HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


def _probe_ms(port: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(PROBE)
        got = b""
        while chunk := conn.recv(4096):
            got += chunk
    assert got.startswith(b"HTTP/1.1 200"), got[:80]
    return (time.perf_counter() - start) * 1e3


def child(idle: int, trickle: bool) -> None:
    from arbiter.early_listen import EarlyListener
    from arbiter.inherited_socket import loopback_listener, port_of

    sock = loopback_listener()
    early = EarlyListener(sock)
    early.start()
    try:
        port = port_of(sock)
        control = _probe_ms(port)
        with ExitStack() as held:
            for _ in range(idle):
                conn = held.enter_context(socket.create_connection(("127.0.0.1", port)))
                conn.sendall(b"GET /livez HT" if trickle else b"")
            time.sleep(0.3)  # the first 32 in their slots, the rest in the backlog
            behind = _probe_ms(port)
    finally:
        early.stop()
        sock.close()
    print(json.dumps({"control_ms": control, "behind_idle_ms": behind}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="name=PYTHONPATH")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=int, default=64)
    ap.add_argument("--trickle", action="store_true", help="idle ones send half a head")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.idle, args.trickle)
        return
    variants = [v.split("=", 1) for v in args.variant] or [["this", "python"]]
    got: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):
        for name, path in variants:  # take turns: every round runs each variant once
            cmd = [sys.executable, __file__, "--child", "--idle", str(args.idle)]
            out = subprocess.run(
                cmd + (["--trickle"] if args.trickle else []),
                env=dict(os.environ, PYTHONPATH=path), capture_output=True, text=True,
                timeout=120, check=True,
            )  # fmt: skip
            got[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"| variant | control ms | probe behind {args.idle} idle ms | x control |")
    print("|---|---|---|---|")
    for name, rows in got.items():
        c = [r["control_ms"] for r in rows]
        b = [r["behind_idle_ms"] for r in rows]
        ratio = statistics.median(b) / statistics.median(c)
        print(
            f"| {name} | {statistics.median(c):.1f} ({min(c):.1f}-{max(c):.1f}) | "
            f"{statistics.median(b):.0f} ({min(b):.0f}-{max(b):.0f}) | {ratio:.0f}x |"
        )
    print(json.dumps({"rounds": args.rounds, "idle": args.idle, "trickle": args.trickle,
                      "results": got}))  # fmt: skip


if __name__ == "__main__":
    main()
