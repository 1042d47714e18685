"""Outside probes of `arbiter check-config` (and config.load, which `serve` uses too): a file it
cannot parse is one problem line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe[server]\nport = 1\n", "not UTF-8"),  # a UTF-16 BOM, or any binary file
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
        (b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000 + b"\n", "nested too deeply"),
    ],
)
def test_check_config_on_an_unparseable_file_is_one_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    cfg = tmp_path / "arbiter.toml"
    cfg.write_bytes(content)
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and words in err, err
    assert err.strip().splitlines()[-1] == f"{cfg}: 1 problem"


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        # the example ships two caps: the one added is caps[2]
        ("[tenants.x]\nquality_target = nan\n", "tenants.x.quality_target = nan is outside"),
        ("[tenants.x]\nquality_target = -1.0\n", "tenants.x.quality_target = -1.0 is outside"),
        ("[tenants.x]\nquality_target = inf\n", "tenants.x.quality_target = inf is outside"),
        ('[[budgets.caps]]\nscope = "tenant"\nlimit_usd = nan\n', "caps[2].limit_usd = nan must"),
        ('[[budgets.caps]]\nscope = "tenant"\nlimit_usd = -1.0\n', "caps[2].limit_usd = -1.0 must"),
    ],
)
def test_check_config_rejects_numbers_no_comparison_can_use(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: str,
    words: str,
) -> None:
    """TOML has nan and inf: a tenant's quality target or a cap's limit that is NaN compares
    false with everything (a cap that never trips), so each is a problem, like the routing ones."""
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text() + "\n" + extra)
    assert main(["check-config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert words in err, err


def test_check_config_rejects_a_model_named_auto(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    model = '[models.auto]\nupstream = "sim"\nprice_in_per_mtok = 1.0\nprice_out_per_mtok = 1.0\n'
    cfg.write_text(EXAMPLE.read_text() + "\n" + model)
    assert main(["check-config", str(cfg)]) == 2
    assert "'auto' is reserved" in capsys.readouterr().err
