"""probe22c: a tenant restricted to some models (`[tenants.one] allowed_models`) is shown
nothing of the others on Arbiter's reads, as `/v1/models` shows it nothing of them.

Before: its decisions' candidates listed each model it may not use ("not allowed for this
tenant"), and `/arbiter/stats` showed their circuits with the failures another tenant's
traffic caused (oa-2: 6 consecutive failures, tenant two's). The admin key still sees both
(the control), and the tenant still sees its own model's circuit."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY, Sidecar
from tests.fault_upstream import fault_upstream
from tests.probe19a_harness import config

pytestmark = pytest.mark.timeout(120)


def _chat(c: httpx.Client, model: str, text: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return c.post("/v1/chat/completions", json=body)


def test_a_restricted_tenant_reads_nothing_of_the_models_it_may_not_use(tmp_path: Path) -> None:
    with fault_upstream() as up:
        text = config(up.port, tmp_path / "a.db") + '[tenants.one]\nallowed_models = ["oa-1"]\n'
        (tmp_path / "a.toml").write_text(text)
        sc = Sidecar(tmp_path / "a.toml").start()
        try:
            one = {"authorization": f"Bearer {sc.create_key('one')['key']}"}
            two = {"authorization": f"Bearer {sc.create_key('two')['key']}"}
            admin = {"authorization": f"Bearer {ADMIN_KEY}"}
            with httpx.Client(base_url=sc.root_url, timeout=20) as c:
                c.headers.update(one)
                r = _chat(c, "auto", "hello")
                assert r.status_code == 200 and r.headers["x-arbiter-model"] == "oa-1", r.text
                did = r.headers["x-arbiter-decision-id"]
                c.headers.update(two)
                for model in ("oa-2", "oa-2", "oa-1"):  # tenant two's traffic fails
                    r = _chat(c, model, f"x [[fault:{model}=status@500]]")
                    assert r.status_code >= 500, r.text
                c.headers.update(one)
                time.sleep(0.2)
                assert "oa-2" not in c.get("/v1/models").text  # the rule the reads now follow
                circuits = c.get("/arbiter/stats").json()["circuits"]
                assert list(circuits) == ["oa-1"], circuits  # its own model's, not oa-2's
                for row in (c.get(f"/arbiter/decisions/{did}").json(),
                            c.get("/arbiter/decisions").json()["data"][0]):  # fmt: skip
                    assert row["id"] == did
                    assert [x["model"] for x in row["candidates"]] == ["oa-1"], row["candidates"]
                # the control: the admin reads every model's
                c.headers.update(admin)
                assert "oa-2" in c.get("/arbiter/stats?tenant=one").json()["circuits"]
                row = c.get(f"/arbiter/decisions/{did}").json()
                assert {x["model"] for x in row["candidates"]} >= {"oa-1", "oa-2"}
        finally:
            sc.stop()
