"""probe23b: 100 requests in flight at once over two replicas of one PostgreSQL database, two
keys of one tenant, each key capped, the tenant capped and a global cap, all tight: plain and
streamed answers, n = 2, a tool offered, so the holds differ. The promise (README, budgets):
each cap passed by at most one request's worst case; here every hold covers its call's bill
(the scripted upstream reports its usage exactly), so no cap may pass by more than one call's
bill. The books: each cap's spend is what the decisions charged, and the upstream's bill.
A cap of 0 turns its key away before any upstream call, and its tenant's other key is served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fault_upstream import COMPLETION_TOKENS, PROMPT_TOKENS
from tests.probe19a_harness import PRICES
from tests.probe22b_rig import fleet
from tests.probe23b_rig import burst, decided_usd, warm

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

IN, OUT = (p / 1e6 for p in PRICES["oa-1"])
BIGGEST_BILL = PROMPT_TOKENS * IN + 2 * COMPLETION_TOKENS * OUT  # n = 2: $0.039
KEY_CAP, TENANT_CAP, GLOBAL_CAP = 0.50, 0.80, 0.95
TOOL = {"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}


def _kinds(i: int) -> dict[str, Any]:
    # the output limit is what the upstream answers: a plain call's hold is its bill
    kw: dict[str, Any] = {"max_tokens": COMPLETION_TOKENS}
    if i % 4 == 1:
        kw["n"] = 2
    if i % 3 == 2:
        kw["tools"] = [TOOL]
    if i % 5 == 3:
        kw["stream"] = True
    return kw


def test_a_hundred_in_flight_on_two_replicas_against_three_caps(tmp_path: Path) -> None:
    caps = [
        {"scope": "key", "limit_usd": KEY_CAP, "window": "day"},
        {"scope": "tenant", "limit_usd": TENANT_CAP, "window": "month"},
        {"scope": "global", "limit_usd": GLOBAL_CAP, "window": "total"},
    ]
    with fleet(tmp_path, "postgres", caps, replicas=2) as f:
        keys = [str(f.first.create_key("t")["key"]) for _ in range(2)]
        # each replica learns the upstream's prompt count
        warm(f, keys[0], max_tokens=COMPLETION_TOKENS)
        f.up.script["oa-1"] = "delay@0.4"  # the holds overlap
        outcomes = burst(f, keys, 100, kinds=_kinds)
        odd = [o for o in outcomes if o not in ("ok", "budget")]
        assert not odd, odd
        assert "budget" in outcomes, outcomes
        assert outcomes.count("ok") >= 12, outcomes  # the caps bind, the race is run
        rows = f.settled()
        billed = f.billed_usd()
        spent = {scope.split(":")[0]: v[0] for scope, v in rows.items() if "key" not in scope}
        keyed = [v[0] for scope, v in rows.items() if scope.startswith("key:")]
        assert len(keyed) == 2, rows
        assert spent["tenant"] == pytest.approx(billed, abs=1e-6)
        assert spent["global"] == pytest.approx(billed, abs=1e-6)
        assert sum(keyed) == pytest.approx(billed, abs=1e-6)
        assert decided_usd(f) == pytest.approx(billed, abs=1e-6)
        for cap, got in [(TENANT_CAP, spent["tenant"]), *((KEY_CAP, k) for k in keyed)]:
            assert got <= cap + BIGGEST_BILL, (cap, got, rows)


def test_a_cap_of_zero_turns_its_key_away_before_any_call(tmp_path: Path) -> None:
    with fleet(tmp_path, "sqlite", []) as f:
        zero = f.first.create_key("t")
        other = str(f.first.create_key("t")["key"])
        cap = {"scope": "key", "name": zero["id"], "limit_usd": 0.0, "window": "day"}
        f.first.edit_config(lambda doc: doc["budgets"].__setitem__("caps", [cap]))
        r = f.first.admin("POST", "/arbiter/admin/reload")
        assert r.status_code == 200, r.text
        f.up.reset()
        for kw in ({}, {"stream": True}, {"n": 2}):
            assert burst(f, [str(zero["key"])], 3, kinds=lambda _, kw=kw: {**kw}) == ["budget"] * 3
        assert f.up.calls == []
        assert burst(f, [other], 2) == ["ok"] * 2
        assert f.settled().get(f"key:{zero['id']}", (0.0, 0.0)) == (0.0, 0.0)
