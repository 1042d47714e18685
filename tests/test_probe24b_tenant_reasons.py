"""probe24b: a tenant whose `allowed_models` leaves models out is told nothing of them (README:
its decisions' candidates, its stats' circuits, /v1/models), yet each routed decision's reason
counted them: "the only eligible model, est. $0.000705; 2 model(s) ineligible" told it how
many models it may not use exist. Now the reason counts only the models it may use."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests import probe24b_rig as rig

TENANT = '[tenants.t-r]\nallowed_models = ["oa-1"]\n'


def test_a_restricted_tenants_reason_counts_no_model_it_may_not_use(tmp_path: Path) -> None:
    """Fails before: the reason ends '; 2 model(s) ineligible' (an-1 and hook-1)."""
    with rig.running(tmp_path, f"sqlite:///{tmp_path}/a.db", more=TENANT) as s:
        admin = {"authorization": f"Bearer {rig.ADMIN}"}
        restricted, whole = (
            httpx.post(f"{s.root}/arbiter/admin/keys", json={"tenant": t}, headers=admin).json()
            for t in ("t-r", "t-w")
        )
        ids = {}
        for name, key in (("t-r", restricted["key"]), ("t-w", whole["key"])):
            body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
            auth = {"authorization": f"Bearer {key}"}
            r = httpx.post(f"{s.root}/v1/chat/completions", json=body, headers=auth, timeout=20)
            assert r.status_code == 200, r.text
            ids[name] = r.headers["x-arbiter-decision-id"]
        time.sleep(0.3)  # the recorder flushes every 20 ms
        seen = s.get(f"/arbiter/decisions/{ids['t-r']}", restricted["key"])
        assert seen.status_code == 200
        decision = seen.json()
        assert "ineligible" not in decision["reason"], decision["reason"]
        assert [c["model"] for c in decision["candidates"]] == ["oa-1"]
        for text in (seen.text, s.get("/v1/models", restricted["key"]).text):
            assert "an-1" not in text and "hook-1" not in text
        # held: naming another tenant, one that exists or one that never did, is the same 403
        # (no tenant names to enumerate)
        for path in ("/arbiter/stats", "/arbiter/decisions", "/arbiter/budgets"):
            there, never = (s.get(f"{path}?tenant={t}", restricted["key"]) for t in ("t-w", "t-x"))
            assert there.status_code == never.status_code == 403
            assert there.json() == never.json()
        # a tenant that may use every model: its reason is as before (all three eligible)
        other = s.get(f"/arbiter/decisions/{ids['t-w']}", whole["key"]).json()
        assert "ineligible" not in other["reason"] and len(other["candidates"]) == 3
