"""Outside probe: POST /arbiter/admin/keys with a field it does not know. The CLI's flag is
`--expires-in 30d`; an operator who sent `{"expires_in": "30d"}` (or `allowed_models`, which the
key does not take) got a 201 and a key that never expires and is not restricted, with nothing to
say the field was ignored. Every other admin body refuses unknown fields (PATCH models, cache
purge); this one must too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from arbiter.cli import main
from tests.inproc import InProcess, sidecar_in_process

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "arbiter.toml"


def run(tmp_path: Path, body: Any) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"expires_in": "30d"}, "expires_in"),
        ({"allowed_models": ["sim-tiny"]}, "allowed_models"),
        ({"expires_in_s": 60, "expires_at": 1}, "expires_at"),
    ],
)
def test_an_unknown_field_is_a_400_naming_it(
    tmp_path: Path, extra: dict[str, Any], field: str
) -> None:
    async def body(sc: InProcess) -> None:
        before = await sc.client.get("/arbiter/admin/keys", headers=sc.admin)
        r = await sc.client.post(
            "/arbiter/admin/keys", json={"tenant": "ops", **extra}, headers=sc.admin
        )
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["param"] == field and field in err["message"]
        assert "expires_in_s" in err["message"]  # says what it does take
        after = await sc.client.get("/arbiter/admin/keys", headers=sc.admin)
        assert after.json()["data"] == before.json()["data"]  # no key was made

    run(tmp_path, body)


def test_the_known_fields_still_make_a_key(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/arbiter/admin/keys",
            json={"tenant": "ops", "name": "ci", "expires_in_s": 60},
            headers=sc.admin,
        )
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["tenant"] == "ops" and made["name"] == "ci"
        assert made["expires_ts"] == pytest.approx(made["created_ts"] + 60)

    run(tmp_path, body)


@pytest.mark.parametrize(
    "expires_in", ["nan", "inf", "1e308d", "-5d", "-1", "0", "0s", "-0.5h", "5y"]
)
@pytest.mark.parametrize("glued", [False, True])
def test_the_cli_refuses_a_key_lifetime_that_is_no_positive_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    expires_in: str, glued: bool,
) -> None:  # fmt: skip
    """`arbiter keys create --expires-in nan` made a key whose expiry is NaN: no time is past
    it, so the key the operator meant to expire never did (inf and 1e308d: never, too).
    `--expires-in -5d` got argparse's "expected one argument" (only `--expires-in=-5d` reached
    the check) and the check named the API's `expires_in_s`: each is one line naming the flag."""
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(
        EXAMPLE.read_text().replace("sqlite:///arbiter.db", f"sqlite:///{tmp_path}/a.db")
    )
    flag = [f"--expires-in={expires_in}"] if glued else ["--expires-in", expires_in]
    args = ["keys", "--config", str(cfg), "create", "--tenant", "ops", *flag]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("arbiter: --expires-in "), err
    assert repr(expires_in) in err and "expected one argument" not in err
    assert not (tmp_path / "a.db").exists()  # refused before the store was opened: no key


def test_the_cli_key_lifetime_takes_a_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(
        EXAMPLE.read_text().replace("sqlite:///arbiter.db", f"sqlite:///{tmp_path}/a.db")
    )
    assert (
        main(["keys", "--config", str(cfg), "create", "--tenant", "ops", "--expires-in", "5d"]) == 0
    )
    from arbiter.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/a.db")
    try:
        [row] = store.list_keys("ops")
        assert row["expires_ts"] - row["created_ts"] == pytest.approx(5 * 86400)
    finally:
        store.close()


def test_the_api_refuses_a_key_lifetime_beyond_a_century(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post(
            "/arbiter/admin/keys", json={"tenant": "ops", "expires_in_s": 1e308}, headers=sc.admin
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "expires_in_s", r.text

    run(tmp_path, body)
