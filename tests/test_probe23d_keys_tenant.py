"""`arbiter keys create --tenant NAME` with a name no key can take: refused before a store is
made, status 2, as a bad --expires-in is. It created and migrated the store file, then said
so with status 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probe23d_rig import arbiter, one_clear_line, write_config


@pytest.mark.parametrize("tenant", ["bad name", "_system"])
def test_a_tenant_no_key_can_take_is_status_2_and_makes_no_store(
    tmp_path: Path, tenant: str
) -> None:
    cfg = write_config(tmp_path)
    ran = arbiter("keys", "--config", str(cfg), "create", "--tenant", tenant)
    assert ran.rc == 2, (ran.rc, ran.out)
    one_clear_line(ran, f"--tenant {tenant!r}")
    assert not (tmp_path / "a.db").exists()
