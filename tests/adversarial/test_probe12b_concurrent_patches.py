"""Outside probe (twelfth session): two operators (or one script in parallel) PATCH different
fields of one model on replicas that share a PostgreSQL store.

`PATCH /arbiter/admin/models/{name}` merges the patch into the stored override in one
transaction: it read the stored patch, merged, and wrote the result back. Under PostgreSQL's READ
COMMITTED two such transactions both read the same old patch and the second's write dropped the
first's field: a price cut sent at the same moment as a context-window fix was answered 200 on
both and then silently missing everywhere (every round of 4 concurrent PATCHes lost fields).
SQLite's BEGIN IMMEDIATE serialises writers, so only the shared store lost them. The merge now
locks the row (an upsert, which also covers a model with no override yet) before reading it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import InProcess, sidecar_in_process
from tests.pg import fresh_database, require_pg

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

FIELDS = ("price_in_per_mtok", "price_out_per_mtok", "context_window", "max_output_tokens")
ROUNDS = 6  # each round PATCHes a model once per field, all at once, half through each replica


def test_concurrent_patches_of_one_model_on_a_shared_store_keep_every_field(
    tmp_path: Path,
) -> None:
    with fresh_database(require_pg()) as url:

        def on_pg(text: str) -> str:
            return "\n".join(
                f'url = "{url}"' if line.startswith("url = ") else line
                for line in text.splitlines()
            )

        async def patch(sc: InProcess, model: str, field: str, value: int) -> None:
            r = await sc.client.patch(
                f"/arbiter/admin/models/{model}", json={field: value}, headers=sc.admin
            )
            assert r.status_code == 200, r.text

        async def main() -> None:
            async with (
                sidecar_in_process(tmp_path / "a", edit_config=on_pg) as a,
                sidecar_in_process(tmp_path / "b", edit_config=on_pg) as b,
            ):
                models = ["sim-tiny", "sim-small", "sim-premium"]
                for n in range(ROUNDS):
                    model = models[n % len(models)]
                    values = {f: 2000 + 10 * n + i for i, f in enumerate(FIELDS)}
                    await asyncio.gather(
                        *(
                            patch((a, b)[i % 2], model, f, v)
                            for i, (f, v) in enumerate(values.items())
                        )
                    )
                    # what the next sync would do: read the shared store's overrides again
                    await asyncio.to_thread(a.services.refresh_registry)
                    r = await a.client.get("/arbiter/admin/models", headers=a.admin)
                    assert r.status_code == 200, r.text
                    row = next(m for m in r.json()["data"] if m["name"] == model)
                    got = {f: row[f] for f in FIELDS}
                    assert got == values, (n, model, got)

        asyncio.run(main())
