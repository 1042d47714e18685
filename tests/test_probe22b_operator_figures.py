"""probe22b: the spend figures an operator reads agree with the store and with the upstream's
bill: the caps' spend (`/arbiter/budgets`), the decisions, `/arbiter/stats` (the dashboard's),
`arbiter export`'s `billed_usd`, and `/metrics` scraped through the port of a
`server.workers = 2` sidecar, as Prometheus would (each scrape a fresh connection, so either
worker answers it): summed over its `worker` label, the cost counter is the spend."""

from __future__ import annotations

import re
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.probe22b_rig import ADMIN, fleet

CAPS = [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]
REQUESTS = 10
SCRAPES = 16  # at least: fresh connections, whichever worker takes each
SCRAPES_MAX = 200


def _scrape(url: str) -> dict[str, dict[str, float]]:
    """series -> worker -> value, for the cost and requests counters of one scrape."""
    text = httpx.get(url + "/metrics", headers=ADMIN, timeout=15).text
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.startswith(("arbiter_cost_usd_total", "arbiter_requests_total")):
            continue
        series, value = line.rsplit(" ", 1)
        worker = re.search(r'worker="([^"]*)"', series)
        name = re.sub(r'worker="[^"]*",?', "", series)
        out.setdefault(name, {})[worker[1] if worker else "?"] = float(value)
    return out


def _started(url: str) -> str:
    """The answering process's start time (each worker has its own; no label needed)."""
    text = httpx.get(url + "/metrics", headers=ADMIN, timeout=15).text
    found = re.search(r"^arbiter_start_time_seconds(?:\{[^}]*\})? (\S+)$", text, re.M)
    assert found is not None, text[:500]
    return found[1]


def test_spend_figures_agree_on_two_workers(tmp_path: Path) -> None:
    with fleet(tmp_path, "sqlite", CAPS, workers=2) as f:
        deadline = time.monotonic() + 60
        seen: set[str] = set()
        while len(seen) < 2:  # both workers take connections (the second starts later)
            assert time.monotonic() < deadline, f"/metrics answered by one process: {seen}"
            seen.add(_started(f.first.root_url))
        key = str(f.first.create_key("t")["key"])
        for i in range(REQUESTS):  # a fresh client each: both workers answer some
            if i % 3 == 2:
                with anthropic.Anthropic(api_key=key, base_url=f.first.root_url) as claude:
                    claude.messages.create(
                        model="an-1", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
                    )
                continue
            with openai.OpenAI(api_key=key, base_url=f.first.base_url) as gpt:
                chunks = gpt.chat.completions.create(
                    model="oa-1", messages=[{"role": "user", "content": "hi"}], max_tokens=20,
                    stream=i % 2 == 1,
                )  # fmt: skip
                if i % 2 == 1:
                    for _ in chunks:  # type: ignore[union-attr]
                        pass
        spent = f.settled()["tenant:t"][0]
        billed = f.billed_usd()
        assert spent == pytest.approx(billed, abs=1e-6)
        decisions = f.decisions()
        assert len(decisions) == REQUESTS
        assert sum(float(d["cost_usd"]) for d in decisions) == pytest.approx(spent, abs=1e-6)
        stats = f.get("/arbiter/stats?tenant=t")
        assert float(stats["cost_usd"]) == pytest.approx(spent, abs=1e-6), stats
        assert stats["requests"] == REQUESTS, stats

        rows = f.exported()
        assert len(rows) == REQUESTS, rows[-3:]
        assert sum(float(r["billed_usd"]) for r in rows) == pytest.approx(spent, abs=1e-6)

        # /metrics as Prometheus reads it: the last value each worker's series showed, scraped
        # until every worker that answered a request was read after it (bounded)
        latest: dict[str, dict[str, float]] = {}

        def total(prefix: str) -> float:
            return sum(
                v for s, by_worker in latest.items() if s.startswith(prefix)
                for v in by_worker.values()
            )  # fmt: skip

        deadline = time.monotonic() + 60
        for scrape in range(SCRAPES_MAX):
            for series, by_worker in _scrape(f.first.root_url).items():
                for worker, value in by_worker.items():
                    seen = latest.setdefault(series, {})
                    # a counter only grows: a drop is a reset to Prometheus
                    assert value >= seen.get(worker, 0.0), (series, worker, value, seen)
                    seen[worker] = value
            assert all("?" not in w for w in latest.values()), latest  # each names its worker
            if scrape >= SCRAPES and total("arbiter_requests_total") == REQUESTS:
                break
            assert time.monotonic() < deadline, latest
        assert total("arbiter_requests_total") == REQUESTS, latest
        assert total("arbiter_cost_usd_total") == pytest.approx(spent, abs=1e-6), latest
