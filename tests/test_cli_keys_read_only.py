"""`arbiter keys list` migrated the store it was pointed at (created every Arbiter table in an
empty database, or moved an older schema forward): a read command must change nothing. On a
store never migrated it now says so and names `arbiter migrate` (status 2), as `arbiter export`
does; so does `keys revoke` (no key can exist there). Both backends; once migrated, both work."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.cli import main
from arbiter.store import open_store
from tests.pg import empty_store_url

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("command", [["list"], ["revoke", "key_nope"]])
def test_keys_read_commands_leave_an_unmigrated_store_alone(
    backend: str,
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm")
    with empty_store_url(backend, tmp_path / "a.db") as url:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(EXAMPLE.read_text().replace("sqlite:///arbiter.db", url))
        argv = ["keys", "--config", str(cfg), *command]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "has no Arbiter tables" in err and "arbiter migrate" in err, err
        assert "Traceback" not in err, err
        store = open_store(url)
        try:
            assert store.schema_version() == 0, "a read-only command created the schema"
            store.migrate()
        finally:
            store.close()
        # migrated: list answers (nothing to list), revoke finds no such key
        assert main(argv) == (0 if command == ["list"] else 1)
