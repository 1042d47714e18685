"""probe24b: what one tenant learns of the others. Defects: a tenant whose `allowed_models`
leaves models out is told nothing of them (README: its decisions' candidates, its stats'
circuits, /v1/models), yet each routed decision's reason counted them ("the only eligible
model, est. $0.000705; 2 model(s) ineligible"); and a tenant refused by the global cap was told
every tenant's spend ("the global total cap of $0.025 would be passed (spent $0.0180, $0.0000
reserved by requests in flight, ...)"), the figures /arbiter/budgets keeps from a client key:
refused again and again, its 429s traced the other tenants' spend and traffic. Now the reason
counts only the models the tenant may use, and a shared cap's refusal names the cap and when it
resets, no figure (a tenant's own cap still shows its own). One sidecar for both (the global cap
comes by a reload)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests import probe24b_rig as rig

TENANT = '[tenants.t-r]\nallowed_models = ["oa-1"]\n'
GLOBAL = '{ scope = "global", limit_usd = 0.025, window = "total" }, '


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rig.Running]:
    tmp = tmp_path_factory.mktemp("p24biso")
    with rig.running(tmp, f"sqlite:///{tmp}/a.db", more=TENANT) as running:
        yield running


def _ask(root: str, key: str) -> tuple[int, str]:
    """One call of hook-1 ($0.006 billed, $0.011 held) as `key`'s tenant: status, body."""
    with openai.OpenAI(base_url=f"{root}/v1", api_key=key, max_retries=0, timeout=20) as c:
        try:
            r = c.chat.completions.with_raw_response.create(
                model="hook-1", max_tokens=1, messages=[{"role": "user", "content": "hi"}]
            )
            return r.status_code, r.http_response.text
        except openai.APIStatusError as err:
            return err.status_code, err.response.text


def test_a_restricted_tenants_reason_counts_no_model_it_may_not_use(s: rig.Running) -> None:
    """Fails before: the reason ends '; 2 model(s) ineligible' (an-1 and hook-1)."""
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


def test_a_shared_caps_refusal_shows_no_other_tenants_spend(s: rig.Running) -> None:
    """Fails before: t-b's 429 read '... global total cap of $0.025 would be passed (spent
    $0.0180, ...)', $0.012 of it t-hook's."""
    text = s.config.read_text()
    s.config.write_text(text.replace("caps = [", "caps = [" + GLOBAL))
    admin = {"authorization": f"Bearer {rig.ADMIN}"}
    assert httpx.post(f"{s.root}/arbiter/admin/reload", headers=admin).json()["outcome"] == (
        "applied"
    )
    hook, other = (
        httpx.post(f"{s.root}/arbiter/admin/keys", json={"tenant": t}, headers=admin).json()
        for t in ("t-hook", "t-b")
    )
    assert [_ask(s.root, hook["key"])[0] for _ in range(2)] == [200, 200]
    own = _ask(s.root, hook["key"])  # t-hook's own $0.02 cap: its own figures, as before
    assert own[0] == 429 and "tenant 't-hook' total cap of $0.02" in own[1]
    assert "spent $0.0120" in own[1]
    assert _ask(s.root, other["key"])[0] == 200  # global: $0.018 spent
    status, body = _ask(s.root, other["key"])
    assert status == 429 and "budget_exceeded" in body
    assert "global total cap, shared by every tenant, would be passed" in body
    assert "$" not in body and "0.018" not in body and "0.025" not in body
