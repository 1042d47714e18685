"""probe24b: a tenant refused by the global cap was told every tenant's spend: "the global total
cap of $0.025 would be passed (spent $0.0180, $0.0000 reserved by requests in flight, ...)", the
figures /arbiter/budgets keeps from a client key ("the operator's to see"); refused again and
again, its 429s traced the other tenants' spend and traffic. Now a shared cap's refusal names
the cap and when it resets, no figure; a tenant's own cap still shows its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai

from tests import probe24b_rig as rig

GLOBAL = '{ scope = "global", limit_usd = 0.025, window = "total" }, '


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


def test_a_shared_caps_refusal_shows_no_other_tenants_spend(tmp_path: Path) -> None:
    """Fails before: t-b's 429 read '... global total cap of $0.025 would be passed (spent
    $0.0180, ...)', $0.012 of it t-hook's."""
    with rig.running(tmp_path, f"sqlite:///{tmp_path}/a.db") as s:
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
