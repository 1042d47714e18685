"""How long GET /v1/models and /v1/models/{id} hold the event loop with a large discovered pool,
per tree, interleaved (probe27a): a loopback listing of `--models` priced models (an upstream
with `discover = true`), the demo sidecar in process, then per path the loop's longest gap
between 1 ms ticks while one answer is made (the time every other request in flight waited),
least and most of `--reps`. Each round one child process per variant, its own code.

    python bench/models_list_loop_stall.py --variant a=/work/wt/base27/python --variant b=python
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PATHS = ("/v1/models", "/v1/models/big-00001", "/v1/models/nope")


def _child(n: int, reps: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's ticker
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.inproc
    from tests.inproc import sidecar_in_process

    from admin_views_loop_stall import _stall_while

    doc = {"object": "list", "data": [
        {"id": f"big-{i:05d}", "object": "model", "context_length": 32000,
         "pricing": {"prompt": f"{(1 + i % 50) * 1e-8:.10f}",
                     "completion": f"{(2 + i % 50) * 1e-8:.10f}"}}
        for i in range(n)]}  # fmt: skip
    data = json.dumps(doc).encode()

    class Listing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Listing)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]

    def edit(text: str) -> str:
        return text + (
            f'\n[upstreams.big]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
            'api_key_env = "ARBITER_DEMO_SIM_KEY"\ndiscover = true\ndiscover_interval_s = 3600\n'
        )

    async def main() -> dict[str, list[float]]:
        with tempfile.TemporaryDirectory() as tmp:
            async with sidecar_in_process(Path(tmp), edit_config=edit) as sc:
                await sc.services.discovery.poll_once("big")
                assert len(sc.services.pool) >= n
                out: dict[str, list[float]] = {}
                for path in PATHS:
                    for _ in range(reps):
                        stall, r = await _stall_while(sc.client.get(path, headers=sc.auth))
                        assert r.status_code in (200, 404), r.text[:200]
                        out.setdefault(path, []).append(stall)
                return out

    sys.setswitchinterval(0.001)  # as `arbiter serve` sets it
    print(json.dumps(asyncio.run(main())))
    srv.shutdown()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--variant", action="append", default=[], help="name=PYTHONPATH")
    p.add_argument("--models", type=int, default=10_000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--child", action="store_true")
    args = p.parse_args()
    if args.child:
        _child(args.models, args.reps)
        return 0
    print(f"load: {os.getloadavg()}", flush=True)
    for rnd in range(args.rounds):
        for name, path in (v.split("=", 1) for v in args.variant):
            env = {**os.environ, "PYTHONPATH": f"{path}:{Path(__file__).resolve().parents[1]}"}
            cmd = [sys.executable, __file__, "--child", "--models", str(args.models),
                   "--reps", str(args.reps)]  # fmt: skip
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if out.returncode:
                raise SystemExit(out.stderr[-2000:])
            got = json.loads(out.stdout.strip().splitlines()[-1])
            row = {k: [round(min(v), 1), round(max(v), 1)] for k, v in got.items()}
            print(f"r{rnd} {name} stall_ms [min, max]: {json.dumps(row)}", flush=True)
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
