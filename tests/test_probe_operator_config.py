"""Outside probes of what an operator writes in arbiter.toml: `check-config` must name every
value that `serve` (or the budget's alerts) would refuse or misread, never answer OK to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
STORE_LINE = 'url = "sqlite:///arbiter.db"'


def _check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> int:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(text)
    return main(["check-config", str(cfg)])


@pytest.mark.parametrize(
    "url", ["mysql://db/arbiter", "", "sqlite:", "sqlite://arbiter.db", "${ARBITER_DB}"]
)
def test_check_config_names_a_store_url_no_command_can_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """`serve`, `migrate` and `keys` refuse these urls at start; check-config said OK to them."""
    text = EXAMPLE.read_text()
    assert STORE_LINE in text
    assert _check(tmp_path, monkeypatch, text.replace(STORE_LINE, f'url = "{url}"')) == 2
    err = capsys.readouterr().err
    assert "store.url" in err and "sqlite:///" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "url",
    ["sqlite:///arbiter.db", "sqlite:////tmp/a.db", "sqlite://:memory:", "postgresql://u@h/d"],
)
def test_check_config_takes_every_store_url_the_store_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    text = EXAMPLE.read_text().replace(STORE_LINE, f'url = "{url}"')
    assert _check(tmp_path, monkeypatch, text) == 0, capsys.readouterr().err


THRESHOLDS = "alert_thresholds = [0.5, 0.8, 1.0]"
WEBHOOK = '# webhook_url = "http://127.0.0.1:9000/arbiter-alerts"'


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        # NaN never compares true (an alert that never fires); a threshold <= 0 fires on the
        # first cent of every window
        (THRESHOLDS, "alert_thresholds = [0.5, nan]", "budgets.alert_thresholds"),
        (THRESHOLDS, "alert_thresholds = [-1.0]", "budgets.alert_thresholds"),
        (THRESHOLDS, "alert_thresholds = [0.0]", "budgets.alert_thresholds"),
        (THRESHOLDS, "alert_thresholds = [inf]", "budgets.alert_thresholds"),
        # the webhook is POSTed with httpx: anything but an http(s) URL fails every alert
        (WEBHOOK, 'webhook_url = "javascript:alert(1)"', "budgets.webhook_url"),
        (WEBHOOK, 'webhook_url = "127.0.0.1:9000/hook"', "budgets.webhook_url"),
        (WEBHOOK, 'webhook_url = "http://"', "budgets.webhook_url"),
        # an infinite cap never trips and its limit reads as null in /arbiter/budgets
        ("limit_usd = 500.0", "limit_usd = inf", "caps[0].limit_usd = inf"),
    ],
)
def test_check_config_names_budget_values_the_alerts_cannot_use(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    old: str,
    new: str,
    words: str,
) -> None:
    text = EXAMPLE.read_text()
    assert old in text
    assert _check(tmp_path, monkeypatch, text.replace(old, new)) == 2
    err = capsys.readouterr().err
    assert words in err, err


def test_check_config_takes_a_plain_webhook_and_thresholds_over_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        EXAMPLE.read_text()
        .replace(WEBHOOK, 'webhook_url = "https://hooks.example.com/arbiter?x=1"')
        .replace(THRESHOLDS, "alert_thresholds = [0.5, 1.0, 1.2]")
    )
    assert _check(tmp_path, monkeypatch, text) == 0, capsys.readouterr().err
