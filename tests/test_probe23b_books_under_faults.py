"""probe23b: every figure an operator reads equals the sum of the recorded bills after a mixed
day of faults on one sidecar: plain and n = 2 answers, a cache hit, a failover off a 500, a
failover off two timed-out attempts the upstream answered (and billed) after the sidecar gave
up, a named model whose every try timed out, absurd usage, a dearer reported cost, a cascade
that escalated, a stream the upstream reset, a stream the client left. The caps' spend, the
decisions (`cost_usd`, `billed_usd`), `/arbiter/stats`, `/arbiter/timeseries`, `/metrics`
and `arbiter export` agree; the spend is never under what the upstream billed; each timed-out
attempt says it may have been billed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.probe22b_rig import ADMIN, Fleet, fleet

CAPS = [{"scope": "tenant", "limit_usd": 100.0, "window": "total"}]
DAY = [  # (text, model, extra arguments)
    ("hi", "oa-1", {}),
    ("hi", "oa-1", {}),  # the cache's hit
    ("hello two", "oa-1", {"n": 2}),
    ("fail over [[fault:oa-1=status@500]]", "auto", {}),
    ("late bill [[fault:oa-1=delay@1.5]]", "auto", {}),
    ("late bill named [[fault:oa-1=delay@1.5]]", "oa-1", {}),
    ("absurd [[fault:oa-1=absurd]]", "oa-1", {}),
    ("dearer [[fault:oa-1=cost@0.05]]", "oa-1", {}),
    ("Extract every person's name from: Alice met Bob in Paris.", "auto", {}),
    ("stream reset [[fault:oa-1=reset@2]]", "oa-1", {"stream": True}),
]


def _edit(doc: dict[str, Any]) -> None:
    doc["cache"] = {"enabled": True}
    doc["failover"].update(first_byte_timeout_s=0.8, total_timeout_s=1.0, deadline_s=4.0)


def _metrics(f: Fleet) -> tuple[float, float]:
    """(arbiter_cost_usd_total, arbiter_requests_total), summed over their series."""
    text = httpx.get(f.first.root_url + "/metrics", headers=ADMIN, timeout=15).text
    sums = {"arbiter_cost_usd_total": 0.0, "arbiter_requests_total": 0.0}
    for name, value in re.findall(r"^(arbiter_\w+_total)\{[^}]*\} (\S+)$", text, re.M):
        if name in sums:
            sums[name] += float(value)
    return sums["arbiter_cost_usd_total"], sums["arbiter_requests_total"]


def test_every_operator_figure_is_the_sum_of_the_bills(tmp_path: Path) -> None:
    with fleet(tmp_path, "sqlite", CAPS, edit=_edit) as f:
        key = str(f.first.create_key("t")["key"])
        with openai.OpenAI(api_key=key, base_url=f.first.base_url, max_retries=0) as gpt:
            for text, model, kw in DAY:
                try:
                    answer = gpt.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": text}],
                        max_tokens=20, **kw,
                    )  # fmt: skip
                    if kw.get("stream"):
                        for _ in answer:  # type: ignore[union-attr]
                            pass
                except openai.APIError:
                    pass  # the named model's timeouts, the reset stream
        with httpx.stream(  # a stream its client leaves after the first event
            "POST", f.first.base_url + "/chat/completions",
            headers={"authorization": f"Bearer {key}"}, timeout=10,
            json={"model": "oa-1", "max_tokens": 20, "stream": True,
                  "messages": [{"role": "user", "content": "leave [[fault:oa-1=midstall@3]]"}]},
        ) as r:  # fmt: skip
            next(r.iter_lines())
        spent = f.settled()["tenant:t"][0]
        decisions = f.decisions()
        assert len(decisions) == len(DAY) + 1
        assert sum(float(d["cost_usd"]) for d in decisions) == pytest.approx(spent, abs=1e-9)
        assert sum(float(d["billed_usd"]) for d in decisions) == pytest.approx(spent, abs=1e-9)
        # conservative, never under: the timed-out and cut calls are charged their worst case
        assert spent >= f.billed_usd() - 1e-9
        timed_out = [a for d in decisions for a in d["attempts"] if a.get("status") == 504]
        assert len(timed_out) == 4 and all(a["billed"] for a in timed_out), timed_out
        modes = sorted(d["mode"] for d in decisions)
        assert modes.count("cache") == 1 and modes.count("routed") == 3, modes

        stats = f.get("/arbiter/stats?tenant=t")
        assert stats["requests"] == len(decisions), stats
        assert float(stats["cost_usd"]) == pytest.approx(spent, abs=1e-9)
        assert sum(float(m["cost_usd"]) for m in stats["by_model"].values()) == pytest.approx(
            spent, abs=1e-9
        )
        series = f.get("/arbiter/timeseries?tenant=t&bucket_s=86400")["data"]
        assert sum(float(p["cost_usd"]) for p in series) == pytest.approx(spent, abs=1e-9)
        assert sum(p["requests"] for p in series) == len(decisions)
        cost, requests = _metrics(f)
        assert cost == pytest.approx(spent, abs=1e-9)
        assert requests == len(decisions)
        rows = f.exported()
        assert len(rows) == len(decisions)
        assert sum(float(r["billed_usd"]) for r in rows) == pytest.approx(spent, abs=1e-9)
