"""`arbiter export` on a store that was never migrated printed `no such table: decisions` (a
driver's words, or a traceback): it now says the store has no Arbiter tables and names
`arbiter migrate`, exit status 2, and creates nothing. Both backends; once migrated it exports."""

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
def test_export_of_an_unmigrated_store_names_arbiter_migrate(
    backend: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SIM_API_KEY", "sk-sim")
    monkeypatch.setenv("ARBITER_ADMIN_KEY", "adm")
    with empty_store_url(backend, tmp_path / "a.db") as url:
        cfg = tmp_path / "arbiter.toml"
        cfg.write_text(EXAMPLE.read_text().replace("sqlite:///arbiter.db", url))
        out = tmp_path / "out.csv"
        argv = ["export", "--config", str(cfg), "--since", "1d", "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "has no Arbiter tables" in err and "arbiter migrate" in err, err
        assert "no such table" not in err and "Traceback" not in err, err
        assert "UndefinedTable" not in err and "does not exist" not in err, err
        store = open_store(url)
        try:
            assert store.schema_version() == 0, "a read-only command created the schema"
            store.migrate()
            assert store.schema_version() > 0
        finally:
            store.close()
        assert main(argv) == 0
        assert "exported 0 decisions" in capsys.readouterr().err
