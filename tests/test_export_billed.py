"""`arbiter export` rows summed double-counted a cascade's in-request judge: its own decision
(mode `cascade_judge`) is an audit copy of a cost the request's decision already holds. The
export now carries `billed_usd`: what the row adds to the caps' spend (0 for such an audit
copy, else its `cost_usd`), so the sum of that column over a mixed run (cascades passed and
escalated with their judges, the sampled grading judge, a failover after a call that may have
been billed, cache hits, plain requests) equals the caps' spend, on SQLite and PostgreSQL.
The decision feed (`/arbiter/decisions`, `/arbiter/decisions/{id}`) carries the same `billed_usd`
(money20: it was in exports only)."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from arbiter.config import ModelSettings
from arbiter.errors import UpstreamUnavailable
from arbiter.store.export import export
from arbiter.types import ChatResult
from tests.budget_harness import HEADERS, Harness, settings
from tests.pg import empty_store_url
from tests.test_cascade_caller_headers import JUDGED, Judged

CAPS = """
[cache]
enabled = true

[[budgets.caps]]
scope = "tenant"
limit_usd = 100.0
window = "total"

[[budgets.caps]]
scope = "global"
limit_usd = 100.0
window = "total"
"""
# the learner's grading judge on every answer, besides the cascade's in-request judge
GRADED = JUDGED + 'judge_model = "sim-tiny"\njudge_sample_rate = 1.0\n'


class Mixed(Judged):
    """Judged, and a model in `reset_once` has its next call reset after the upstream took it
    (it may be billed: its worst case is committed, then failover tries the next model)."""

    def __init__(self) -> None:
        super().__init__(score=2)
        self.reset_once: set[str] = set()

    async def complete(self, body: dict[str, Any], model: ModelSettings) -> ChatResult:
        if model.name in self.reset_once:
            self.reset_once.discard(model.name)
            self.names.append(model.name)
            raise UpstreamUnavailable("reset") from httpx.RemoteProtocolError("reset")
        return await super().complete(body, model)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    with empty_store_url(request.param, tmp_path / "export.db") as url:
        yield url


def _chat(prompt: str, model: str = "auto") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}]}


def test_the_billed_column_sums_to_the_caps_spend(tmp_path: Path, store_url: str) -> None:
    s = settings(tmp_path, None, extra=CAPS, routing=GRADED, store_url=store_url)
    upstream = Mixed()

    async def go() -> tuple[str, str, float, float, list[dict[str, Any]]]:
        async with Harness(s, upstream) as h:
            post = h.client.post
            asks = [
                _chat("Write a short note inviting a neighbour to a garden party."),  # escalated
                _chat("Write a short note inviting a neighbour to a garden party."),  # cache hit
                _chat("Write a poem about the sea at dawn.", "sim-premium"),  # plain
                _chat("Write a poem about the sea at dawn.", "sim-premium"),  # cache hit
            ]
            for body in asks:
                r = await post("/v1/chat/completions", json=body, headers=HEADERS)
                assert r.status_code == 200, r.text
            upstream.score = 9  # the next cascade passes its judge
            r = await post("/v1/chat/completions", json=_chat("A limerick about a cat, please."),
                           headers=HEADERS)  # fmt: skip
            assert r.status_code == 200 and r.headers["x-arbiter-cascade"] == "passed"
            upstream.reset_once.add("sim-small")  # the cascade's first call is lost: failover
            r = await post("/v1/chat/completions", json=_chat("Describe autumn in a haiku."),
                           headers=HEADERS)  # fmt: skip
            assert r.status_code == 200, r.text
            await h.services.learner.drain(10.0)  # the grading judge's calls
            await h.settled()
            h.services.recorder.flush(5.0)
            store = h.services.store
            spent = store.budget_usage("global")[0]["spent_usd"]
            tenant = store.budget_usage("tenant:default")[0]["spent_usd"]
            out_csv, out_jsonl = io.StringIO(), io.StringIO()
            export(store, 0.0, "csv", out_csv)
            export(store, 0.0, "jsonl", out_jsonl)
            r = await h.client.get("/arbiter/decisions?limit=1000", headers=HEADERS)
            assert r.status_code == 200, r.text
            feed = r.json()["data"]
            for d in feed:  # one decision reads as it does in the feed
                r = await h.client.get(f"/arbiter/decisions/{d['id']}", headers=HEADERS)
                assert r.json()["billed_usd"] == d["billed_usd"], (r.json(), d)
            return out_csv.getvalue(), out_jsonl.getvalue(), spent, tenant, feed

    text, lines, spent, tenant, feed = asyncio.run(go())
    rows = list(csv.DictReader(io.StringIO(text)))
    modes = {r["mode"] for r in rows}
    assert {"cascade_judge", "judge"} <= modes, modes  # both judges ran
    assert sum(r["reason"].startswith("cache") for r in rows) == 2, [r["reason"] for r in rows]
    assert upstream.reset_once == set()  # the failover happened
    billed = sum(float(r["billed_usd"]) for r in rows)
    assert billed == pytest.approx(spent, abs=1e-9), rows
    assert sum(float(r["cost_usd"]) for r in rows) > spent + 1e-9  # what was double-counted
    assert all(
        float(r["billed_usd"]) == (0.0 if r["mode"] == "cascade_judge" else float(r["cost_usd"]))
        for r in rows
    )
    jsonl = [orjson.loads(line) for line in lines.splitlines()]
    assert sum(d["billed_usd"] for d in jsonl) == pytest.approx(spent, abs=1e-9)
    assert len(feed) == len(jsonl) and "cascade_judge" in {d["mode"] for d in feed}
    assert sum(d["billed_usd"] for d in feed) == pytest.approx(spent, abs=1e-9), feed
    assert all(
        d["billed_usd"] == (0.0 if d["mode"] == "cascade_judge" else d["cost_usd"]) for d in feed
    )
    assert tenant > 0
