"""What probe24d's tests share: real `arbiter serve` children (one, restarted on its store, or
replicas on one PostgreSQL database) in front of the scripted upstream (tests/fault_upstream.py,
probe19a's config: oa-1 at $1,000 / $2,000 per 1M tokens), the openai SDK as the client, and
reads of what the operator sees (/arbiter/alerts, /arbiter/admin/models, /metrics)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.conftest import ADMIN_KEY, Sidecar
from tests.probe19a_harness import Timeouts, config

TIMEOUTS = Timeouts(first_byte_s=3.0, total_s=4.0, deadline_s=5.0)
# what oa-1's call costs at its configured prices: 11 prompt and 7 completion tokens
OA1_COST = (11 * 1000.0 + 7 * 2000.0) / 1e6


def config_text(port: int, tmp: Path, store_url: str | None = None, sync_ms: int = 300) -> str:
    """probe19a's config on `store_url` (a SQLite file in `tmp` when None), synced every
    `sync_ms`."""
    db = tmp / "a.db"
    text = config(port, db, TIMEOUTS)
    if store_url is not None:
        text = text.replace(f'url = "sqlite:///{db}"', f'url = "{store_url}"')
        assert store_url in text
    text = text.replace(
        "flush_interval_ms = 20", f"flush_interval_ms = 20\nsync_interval_ms = {sync_ms}"
    )
    assert f"sync_interval_ms = {sync_ms}" in text
    return text


@dataclass(slots=True)
class Serve:
    """One running `arbiter serve` and an openai client with a tenant key."""

    sidecar: Sidecar
    gpt: openai.OpenAI

    def get(self, path: str) -> httpx.Response:
        r = httpx.get(
            self.sidecar.root_url + path,
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r

    def priced(self, factor: float, model: str = "oa-1") -> Any:
        """One call of oa-1 whose upstream reports usage.cost at `factor` x its configured
        price."""
        text = f"Say hello. [[fault:oa-1=cost@{OA1_COST * factor:.9f}]]"
        raw = self.gpt.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}]
        )
        assert raw.http_response.status_code == 200
        return raw

    def alerts(self, kind: str, model: str = "oa-1") -> list[dict[str, Any]]:
        rows = self.get("/arbiter/alerts?limit=1000").json()["data"]
        return [a for a in rows if a["kind"] == kind and a["model"] == model]

    def counted(self, kind: str) -> float:
        """arbiter_alerts_total{kind} of this process."""
        text = self.get("/metrics").text
        m = re.search(rf'^arbiter_alerts_total\{{kind="{kind}"\}} (\S+)$', text, re.M)
        return float(m[1]) if m else 0.0

    def price_in(self, model: str = "oa-1") -> float:
        rows = self.get("/arbiter/admin/models").json()["data"]
        return float(next(m for m in rows if m["name"] == model)["price_in_per_mtok"])


@contextmanager
def serve(cfg: Path, key: str | None = None, tenant: str = "default") -> Iterator[Serve]:
    """`arbiter serve` on `cfg`, with a new key for `tenant` unless one is given; stopped
    (SIGTERM) at the end."""
    sidecar = Sidecar(cfg).start()
    try:
        key = key or str(sidecar.create_key(tenant)["key"])
        with openai.OpenAI(api_key=key, base_url=sidecar.base_url, max_retries=0, timeout=10) as g:
            yield Serve(sidecar, g)
    finally:
        sidecar.stop()


def until(check: Any, what: str, bound_s: float = 5.0) -> Any:
    """Poll `check()` every 50 ms until it is truthy (bounded): its value."""
    deadline = time.monotonic() + bound_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"not within {bound_s} s: {what}"
        time.sleep(0.05)
    return value


def adopt_x4(s: Serve) -> int:
    """oa-1 at its configured price for 8 calls, then reported at x4 until this process counts
    a price_change (at most 5 calls: the detector's bound): how many x4 calls it took."""
    for _ in range(8):
        s.priced(1.0)
    before = s.counted("price_change")
    for i in range(1, 6):
        s.priced(4.0)
        if s.counted("price_change") > before:
            return i
    raise AssertionError("no price_change in 5 calls at x4")
