"""mem26's cases through a real `arbiter serve` (probe23a's raw-socket upstream, as
bench/embeddings_serve.py; its `/healthz` poller in a process of its own), base vs this tree,
one child per tree per round, alternating:

- `messages`: three chat requests of `--messages` (100,000) tiny messages (~3 MB;
  `max_body_bytes` raised to 8 MiB for both trees): the status each got and the longest
  `/healthz` round trip meanwhile (the stall every other request saw), and the sidecar's CPU.
- `idle`: `--idle` clients (10,000) each make one request (`/healthz`) and stay open,
  keep-alive; then the sidecar's RSS growth and descriptors, how many of the clients are still
  open, and how long a newcomer's chat request took.

    python bench/mem26_serve.py --base /work/wt/base26 --ours . [--rounds 2] [--case messages idle]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embeddings_serve import _POLL, _rss_kb

ANSWER = orjson.dumps({
    "id": "x", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
})  # fmt: skip


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _poller(url: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _POLL, url, str(seconds)], stdout=subprocess.PIPE, text=True
    )


def _messages(r: Any, n: int) -> dict[str, Any]:
    import httpx
    from tests.probe23a_rig import whole

    ask = r.script("ok", lambda sock, path, body: whole(sock, ANSWER))
    turns = [{"role": "user", "content": f"m{i}"} for i in range(n - 1)]
    body = orjson.dumps({"model": "oa-1", "messages": [*turns, {"role": "user", "content": ask}]})
    pid = r.sidecar.proc.proc.pid
    poll = _poller(r.sidecar.root_url + "/healthz", 12)
    time.sleep(1.0)
    cpu = _cpu_s(pid)
    statuses = []
    with httpx.Client(timeout=60) as c:
        for _ in range(3):
            got = c.post(
                r.sidecar.root_url + "/v1/chat/completions", content=body,
                headers={"authorization": f"Bearer {r.key}", "content-type": "application/json"},
            )  # fmt: skip
            statuses.append(got.status_code)
            time.sleep(0.5)
    cpu = _cpu_s(pid) - cpu
    out, _ = poll.communicate(timeout=60)
    return {"statuses": statuses, "healthz_worst_ms": float(out.strip() or 0),
            "sidecar_cpu_s": round(cpu, 2), "body_mb": round(len(body) / 1e6, 2)}  # fmt: skip


def _idle(r: Any, n: int) -> dict[str, Any]:
    import httpx
    from tests.probe23a_rig import whole

    pid = r.sidecar.proc.proc.pid
    port = r.sidecar.port
    rss0, fds0 = _rss_kb(pid, "VmRSS"), len(os.listdir(f"/proc/{pid}/fd"))
    held: list[socket.socket] = []
    started = time.monotonic()
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(30)
            s.sendall(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            got = b""
            while b"\r\n\r\n" not in got:  # (a short answer: its head and body in one read)
                piece = s.recv(4096)
                if not piece:
                    break
                got += piece
            held.append(s)
        opened_s = time.monotonic() - started
        time.sleep(1.0)
        rss, fds = _rss_kb(pid, "VmRSS"), len(os.listdir(f"/proc/{pid}/fd"))
        still = 0
        for s in held:  # open and not closed by the server (a read would block)
            s.setblocking(False)
            try:
                still += s.recv(1) != b""
            except BlockingIOError:
                still += 1
            except OSError:
                pass
        ask = r.script("ok", lambda sock, path, body: whole(sock, ANSWER))
        t = time.perf_counter()
        with httpx.Client(timeout=30) as c:
            status = c.post(
                r.sidecar.root_url + "/v1/chat/completions",
                json={"model": "oa-1", "messages": [{"role": "user", "content": ask}]},
                headers={"authorization": f"Bearer {r.key}"},
            ).status_code  # fmt: skip
        newcomer_ms = (time.perf_counter() - t) * 1000
    finally:
        for s in held:
            s.close()
    return {"clients": n, "opened_s": round(opened_s, 1),
            "rss_growth_mb": round((rss - rss0) / 1024), "descriptors": f"{fds0} -> {fds}",
            "clients_still_open": still,
            "newcomer": status, "newcomer_ms": round(newcomer_ms)}  # fmt: skip


def _child(case: str, idle: int, messages: int) -> None:
    from tests.probe23a_rig import rig

    def edit(text: str) -> str:
        text = text.replace("total_timeout_s = 6.0", "total_timeout_s = 60.0")
        text = text.replace("deadline_s = 8.0", "deadline_s = 90.0")
        return text.replace("[server]\n", "[server]\nmax_body_bytes = 8388608\n", 1)

    with tempfile.TemporaryDirectory() as tmp, rig(Path(tmp), edit) as r:
        got = _messages(r, messages) if case == "messages" else _idle(r, idle)
    print(json.dumps(got))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path)
    ap.add_argument("--ours", type=Path, default=Path("."))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--case", nargs="+", default=["messages", "idle"])
    ap.add_argument("--idle", type=int, default=10_000)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        return _child(a.case[0], a.idle, a.messages)
    if a.base is None:
        ap.error("--base is required")
    trees = {"base": a.base.resolve(), "ours": a.ours.resolve()}
    root = Path(__file__).resolve().parent.parent
    for case in a.case:
        for r in range(a.rounds):
            for name in list(trees) if r % 2 == 0 else list(reversed(trees)):
                env = {**os.environ, "PYTHONPATH": f"{trees[name] / 'python'}:{root}"}
                args = [sys.executable, __file__, "--child", "--case", case, "--idle", str(a.idle),
                        "--messages", str(a.messages)]  # fmt: skip
                done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
                got: dict[str, Any] = (
                    json.loads(done.stdout.strip().splitlines()[-1])
                    if done.returncode == 0 else {"failed": done.stderr[-600:]}
                )  # fmt: skip
                print(f"{case} round {r} {name}: {json.dumps(got)} load {os.getloadavg()[0]:.1f}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
