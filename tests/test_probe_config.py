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
