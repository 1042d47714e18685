"""A PostgreSQL store whose migration lock another session holds (a migration stuck in a stopped
process, a session left open): `serve` and `migrate` waited for it for ever, without a word.
Now they wait `store.migrate_lock_wait_s` (120 s by default; 2 s here, set in one config by
its key and in another by the environment's override), then say so in one line, status 1."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from arbiter.store.postgres import _MIGRATE_LOCK
from tests.conftest import ENV
from tests.pg import empty_store_url
from tests.probe23d_rig import arbiter, one_clear_line, write_config

pytestmark = pytest.mark.postgres


def test_a_migration_lock_held_elsewhere_is_a_bounded_wait_and_one_line(tmp_path: Path) -> None:
    env = {**ENV, "ARBITER_STORE__MIGRATE_LOCK_WAIT_S": "2"}  # `migrate`'s: the override
    with empty_store_url("postgres", tmp_path / "unused.db") as url:
        plain = write_config(tmp_path)
        plain.write_text(plain.read_text().replace(f"sqlite:///{tmp_path / 'a.db'}", url))
        (tmp_path / "keyed").mkdir()  # `serve`'s: the key, in its config file
        cfg = write_config(tmp_path / "keyed", sections={"store": {"migrate_lock_wait_s": 2.0}})
        cfg.write_text(cfg.read_text().replace(f"sqlite:///{tmp_path / 'keyed' / 'a.db'}", url))
        assert arbiter("migrate", "--config", str(plain)).rc == 0
        with psycopg.connect(url) as holder:  # a session in a migration, stopped there
            holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATE_LOCK,))
            with ThreadPoolExecutor(2) as both:
                serving = both.submit(arbiter, "serve", "--config", str(cfg))
                migrate = both.submit(arbiter, "migrate", "--config", str(plain), env=env).result()
                serve = serving.result()
    for ran in (serve, migrate):
        assert ran.rc == 1, (ran.rc, ran.out[-2000:])
        one_clear_line(ran, "migration lock", "2 s")
