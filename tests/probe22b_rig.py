"""probe22b's rig: real `arbiter serve` processes (one with `server.workers = N` on SQLite, or N
replicas on one PostgreSQL database) in front of the scripted upstream (tests/fault_upstream.py,
which keeps what it billed), with the caps an operator writes, and the books every test reads:
the store's spend and holds (`/arbiter/budgets`), the decisions, and the upstream's own bill."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson

from arbiter.offline.demo import ADMIN_KEY_ENV, API_KEY_ENV
from arbiter.toml_text import to_toml
from tests.conftest import ADMIN_KEY, Sidecar
from tests.fault_upstream import FaultUpstream, fault_upstream
from tests.pg import empty_store_url
from tests.probe19a_harness import PRICES, config

ADMIN = {"authorization": f"Bearer {ADMIN_KEY}"}


@dataclass(slots=True)
class Fleet:
    up: FaultUpstream
    sidecars: list[Sidecar]  # one per process group: a `workers` serve, or each replica

    @property
    def first(self) -> Sidecar:
        return self.sidecars[0]

    def get(self, path: str, sidecar: Sidecar | None = None) -> Any:
        s = sidecar or self.first
        r = httpx.get(s.root_url + path, headers=ADMIN, timeout=15)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def cap_rows(self) -> dict[str, tuple[float, float]]:
        """scope -> (spent, reserved) of every cap row open now, as the store has them."""
        rows = self.get("/arbiter/budgets")["data"]
        return {r["scope"]: (float(r["spent_usd"]), float(r["reserved_usd"])) for r in rows}

    def settled(self, timeout_s: float = 20.0) -> dict[str, tuple[float, float]]:
        """The cap rows once nothing is reserved any more (bounded: a hold that stays fails)."""
        deadline = time.monotonic() + timeout_s
        while True:
            rows = self.cap_rows()
            if all(reserved < 1e-9 for _, reserved in rows.values()):
                return rows
            assert time.monotonic() < deadline, f"still reserved after {timeout_s} s: {rows}"
            time.sleep(0.1)

    def decisions(self, sidecar: Sidecar | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after = ""
        while True:
            page = self.get(f"/arbiter/decisions?limit=500{after}", sidecar)
            out += page["data"]
            if not page.get("has_more"):
                return out
            after = f"&after={page['data'][-1]['id']}"

    def billed_usd(self) -> float:
        return sum((p * PRICES[m][0] + c * PRICES[m][1]) / 1e6 for m, p, c in self.up.bills)

    def billed_once_answered(self, calls: int, timeout_s: float = 10.0) -> float:
        """`billed_usd` once the upstream has answered `calls` calls (bounded): it answers, and
        bills, the calls of a process killed while they were held there all the same."""
        deadline = time.monotonic() + timeout_s
        while len(self.up.bills) < calls:
            assert time.monotonic() < deadline, (self.up.bills, self.up.calls)
            time.sleep(0.05)
        return self.billed_usd()

    def exported(self) -> list[dict[str, Any]]:
        """The last day's decisions as `arbiter export --format jsonl` writes them (the first
        sidecar's config)."""
        out = subprocess.run(
            [sys.executable, "-m", "arbiter", "export", "--config", str(self.first.config_path),
             "--since", "1d", "--format", "jsonl"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, API_KEY_ENV: "k", ADMIN_KEY_ENV: ADMIN_KEY},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        return [orjson.loads(x) for x in out.stdout.splitlines() if x.strip()]


def tables_loaded(root_url: str, key: str, model: str) -> None:
    """A count_tokens call of `model` answered: it waits for the sidecar's budget tokenizer,
    whose tables load in their thread (a prompt counted before is counted by its bytes and
    teaches no prompt ratio: tokenizer_load.py)."""
    r = httpx.post(
        f"{root_url}/v1/messages/count_tokens",
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 200, r.text


async def outcome(call: Awaitable[object]) -> str:
    """What one SDK request came to: "ok", "budget" (a 429 budget_exceeded), else the status
    and the error's body."""
    try:
        await call
        return "ok"
    except openai.RateLimitError as err:
        body: Any = err.body
        return "budget" if body.get("code") == "budget_exceeded" else f"429 {body}"
    except openai.APIStatusError as err:
        return f"{err.status_code} {err.body}"


def _doc(port: int, store_url: str, caps: list[dict[str, Any]], workers: int) -> dict[str, Any]:
    doc = tomllib.loads(config(port, Path("unused.db")))
    doc["store"]["url"] = store_url
    doc["server"]["workers"] = workers
    doc["budgets"]["caps"] = caps
    return doc


@contextmanager
def serves(
    tmp: Path,
    port: int,
    backend: str,
    caps: list[dict[str, Any]],
    *,
    replicas: int = 1,
    workers: int = 1,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[list[Sidecar]]:
    """`replicas` serve processes (each with `workers` workers) on one store of `backend`
    ("sqlite" or "postgres": a fresh database; or a store URL), all in front of the upstream on
    `port`."""
    with ExitStack() as stack:
        url = (  # a store's URL as given (a private cluster), else a fresh one of `backend`
            backend
            if "://" in backend
            else stack.enter_context(empty_store_url(backend, tmp / "a.db"))
        )
        sidecars: list[Sidecar] = []
        for i in range(replicas):
            doc = _doc(port, url, caps, workers)
            if edit is not None:
                edit(doc)
            cfg = tmp / f"r{i}.toml"
            cfg.write_text(to_toml(doc))
            s = Sidecar(cfg).start()
            stack.callback(s.stop)
            sidecars.append(s)
        yield sidecars


@contextmanager
def fleet(
    tmp: Path,
    backend: str,
    caps: list[dict[str, Any]],
    *,
    replicas: int = 1,
    workers: int = 1,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Fleet]:
    """`serves` in front of a scripted upstream (tests/fault_upstream.py)."""
    with fault_upstream() as up:
        kw: dict[str, Any] = {"replicas": replicas, "workers": workers, "edit": edit}
        with serves(tmp, up.port, backend, caps, **kw) as sidecars:
            yield Fleet(up, sidecars)
