"""`arbiter export --since` after now: exit 2 naming it, as the API's `since` after `until` is a
400 (its `until` defaults to a minute after now), never "exported 0 decisions" that reads as no
traffic."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from arbiter.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    path = tmp_path / "arbiter.toml"
    path.write_text(EXAMPLE.read_text())
    assert main(["migrate", "--config", str(path)]) == 0
    return path


# an hour from now is computed in the test: a parameter read from the clock at collection differs
# between pytest-xdist's workers when a second passes between their collections (a collection error)
@pytest.mark.parametrize("since", ["2099-01-01", "an hour from now"])
def test_a_since_in_the_future_exits_2_naming_it(
    cfg: Path, capsys: pytest.CaptureFixture[str], since: str
) -> None:
    if since == "an hour from now":
        since = str(int(time.time()) + 3600)
    capsys.readouterr()
    assert main(["export", "--config", str(cfg), "--since", since]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"arbiter: --since {since!r} is in the future"), captured.err
    assert "exported" not in captured.err


def test_a_since_of_now_still_exports(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the API's slack: `until` is a minute after now, so a `since` of now is a range, not an error
    capsys.readouterr()
    assert main(["export", "--config", str(cfg), "--since", str(int(time.time()) + 30)]) == 0
    assert "exported 0 decisions" in capsys.readouterr().err
