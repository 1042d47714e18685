"""probe27a: GET /v1/models and /v1/models/{id} with a discovered pool. A listing may bring
10,000 models (README: Models that come and go); building the tenant's whole list on the event
loop took 70-1,000 ms there (probe27a.md), and GET /v1/models/{id} built the whole list to find
one model: any tenant key stalled every request in flight at each call. Now the list is built in
a thread and one model is looked up alone; the answers are the same."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter.registry import Registry
from tests.inproc import sidecar_in_process


def test_the_model_list_is_built_off_the_loop_and_one_model_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[bool] = []
    real = Registry.nameable_models
    loop_thread = threading.get_ident()

    def spy(self: Registry) -> Any:
        on_loop.append(threading.get_ident() == loop_thread)
        return real(self)

    monkeypatch.setattr(Registry, "nameable_models", spy)

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            on_loop.clear()  # start-up's reads
            listed = await sc.client.get("/v1/models", headers=sc.auth)
            assert listed.status_code == 200
            rows = {m["id"]: m for m in listed.json()["data"]}
            assert {"auto", "sim-tiny", "sim-premium"} <= set(rows)
            for name in ("sim-tiny", "auto"):
                one = await sc.client.get(f"/v1/models/{name}", headers=sc.auth)
                assert one.status_code == 200 and one.json() == rows[name], one.text
            gone = await sc.client.get("/v1/models/nope", headers=sc.auth)
            assert gone.status_code == 404
            paged = await sc.client.get("/v1/models?limit=2", headers=sc.anthropic)
            assert paged.status_code == 200 and len(paged.json()["data"]) == 2
            bad = await sc.client.get("/v1/models?limit=2", headers=sc.auth)
            assert bad.status_code == 400 and "anthropic-version" in bad.text

    asyncio.run(main())
    # the list, `auto` and the Anthropic page read it in a thread; a named model not at all
    assert on_loop == [False, False, False], on_loop
