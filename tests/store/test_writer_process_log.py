"""The writer process's child logs as the serving process does: every secret the server masks
(log_secrets.py) is masked in the child's lines too, in the server's log format."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from arbiter import log_secrets
from arbiter.config import loads
from arbiter.store import StoreError
from arbiter.writer_process import ProcessWriter

SECRET = "adm-misc24-writer-child-0123456789"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_childs_log_lines_mask_the_servers_secrets(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], fmt: str
) -> None:
    """Fails before: the child wrote `FileExistsError: ... '/tmp/.../adm-misc24-...'` raw
    (a traceback, no masking, not in the server's format)."""
    env = {"ADM": SECRET}
    doc = (
        '[auth]\nadmin_key_env = "ADM"\n[upstreams.u]\nbase_url = "http://127.0.0.1:1/v1"\n'
        '[models.m]\nupstream = "u"\nprice_in_per_mtok = 1.0\nprice_out_per_mtok = 1.0\n'
    )
    log_secrets.use(loads(doc, env=env, secrets=True))
    blocker = tmp_path / SECRET  # a file where the store's folder would be: the open fails
    blocker.write_text("")
    writer = ProcessWriter(
        f"sqlite:///{blocker / 'a.db'}", redacted_url="test", nicer_by=0, log_format=fmt
    )
    try:
        with pytest.raises(StoreError):
            writer.start()  # the failure is logged by the parent (masked) and the child
            writer.write([b"x"])
    finally:
        writer.close()
    err = capfd.readouterr().err
    assert "cannot open the store" in err and "FileExistsError" in err
    assert SECRET not in err
    lines = [ln for ln in err.splitlines() if "cannot open the store" in ln]
    if fmt == "json":
        assert orjson.loads(lines[0])["logger"] == "arbiter.writer_process"
    else:
        assert " ERROR arbiter.writer_process: " in lines[0]
