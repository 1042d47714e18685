"""Outside probe (tenth session): tenant names had no bound. `arbiter keys create --tenant`
and `POST /arbiter/admin/keys` took a 10,000-character name (every log line, decision row,
metric label and budget scope of that tenant carries it), and the config took any `[tenants.X]`
name, one with spaces or slashes that no key could ever have. A tenant's name is now 1-64
letters, digits and `- _ . :`, with a clear error at each entry point; a key stored before the
rule keeps working (nobody is locked out)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from arbiter import config
from arbiter.auth import _hash
from arbiter.cli import main
from arbiter.errors import ConfigError
from tests.adversarial.test_probe_admin_keys import EXAMPLE
from tests.inproc import sidecar_in_process
from tests.test_config import ENV

BAD = ["x" * 65, "team a", "team/a", "équipe", ""]
GOOD = ["x" * 64, "team:eu-1", "acme.prod_2", "a"]
CHAT = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}


def test_the_admin_api_takes_only_a_bounded_tenant_name(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for tenant in BAD:
                r = await sc.client.post(
                    "/arbiter/admin/keys", json={"tenant": tenant}, headers=sc.admin
                )
                assert r.status_code == 400, (tenant, r.text)
                err = r.json()["error"]
                assert err["param"] == "tenant" and "tenant name" in err["message"], err
            listed = await sc.client.get("/arbiter/admin/keys", headers=sc.admin)
            assert {k["tenant"] for k in listed.json()["data"]} == {"default"}  # none was made
            for tenant in GOOD:
                r = await sc.client.post(
                    "/arbiter/admin/keys", json={"tenant": tenant}, headers=sc.admin
                )
                assert r.status_code == 201, (tenant, r.text)
                key = {"authorization": f"Bearer {r.json()['key']}"}
                answer = await sc.client.post("/v1/chat/completions", json=CHAT, headers=key)
                assert answer.status_code == 200, answer.text

    asyncio.run(main())


def test_a_key_stored_before_the_rule_keeps_working(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            secret = "s" * 43
            old = "a legacy tenant / " + "y" * 80
            sc.services.store.create_key(
                key_id="0123456789ab", tenant=old, name="", secret_hash=_hash(secret),
                created_ts=time.time(), expires_ts=None,
            )  # fmt: skip
            key = {"authorization": f"Bearer arb-0123456789ab-{secret}"}
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=key)
            assert r.status_code == 200, r.text
            r = await sc.client.get("/arbiter/stats", headers=key)
            assert r.status_code == 200 and r.json()["requests"] == 1, r.text

    asyncio.run(main())


@pytest.mark.parametrize("tenant", ["x" * 65, "team a"])
def test_the_cli_refuses_a_tenant_name_out_of_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tenant: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(
        EXAMPLE.read_text().replace("sqlite:///arbiter.db", f"sqlite:///{tmp_path}/a.db")
    )
    assert main(["keys", "--config", str(cfg), "create", "--tenant", tenant]) != 0
    assert "tenant name" in capsys.readouterr().err
    assert main(["keys", "--config", str(cfg), "create", "--tenant", "team:eu-1"]) == 0
    assert "tenant: team:eu-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("snippet", "where"),
    [
        ('\n[tenants."team a"]\nquality_target = 0.9\n', "team a"),
        (f"\n[tenants.{'t' * 65}]\nquality_target = 0.9\n", "t" * 65),
        (
            '\n[[budgets.caps]]\nscope = "tenant"\nname = "a/b"\nwindow = "day"\nlimit_usd = 1.0\n',
            "a/b",
        ),
    ],
)
def test_the_config_refuses_a_tenant_name_out_of_the_rule(snippet: str, where: str) -> None:
    text = EXAMPLE.read_text()
    with pytest.raises(ConfigError, match="tenant name") as caught:
        config.loads(text + snippet, env=ENV)
    assert repr(where) in str(caught.value)
    config.loads(text.replace("[tenants.search-team]", '[tenants."search-team:eu"]'), env=ENV)
