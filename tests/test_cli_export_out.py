"""`arbiter export --out PATH` where PATH cannot be written: one line naming it, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


@pytest.mark.parametrize("where", ["missing/dir/out.jsonl", "."])  # no such folder; a folder
def test_export_to_a_path_it_cannot_write_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm-test")
    cfg = tmp_path / "arbiter.toml"
    cfg.write_text(EXAMPLE.read_text())
    assert main(["migrate", "--config", str(cfg)]) == 0
    out = tmp_path / where
    assert main(["export", "--config", str(cfg), "--since", "7d", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"arbiter: cannot write --out {str(out)!r}: " + (
        "No such file or directory" if where != "." else "Is a directory"
    ), err
