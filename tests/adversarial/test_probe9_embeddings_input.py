"""Outside probe (ninth session): /v1/embeddings inputs that OpenAI's spec forbids (an empty
string, alone or in the array; more than 2,048 inputs; a negative token id) went to the upstream
after the budget reservation: OpenAI answers 400 after the call was made ("cannot be an empty
string", "2048 ... or less"), a server that does not check embedded and billed nothing as if
it were text. Each is now the caller's 400 naming `input`, before any upstream call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sim_requests

FORBIDDEN: list[Any] = ["", ["tide", ""], ["tide"] * 2049, [[1, 2]] * 2049, [5, -1], [[5], [-1]]]
ALLOWED: list[Any] = ["tide", ["tide"] * 2048, [0, 5], [[5], [6, 7]]]


def test_inputs_the_spec_forbids_are_a_400_before_any_call(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            before = await sim_requests(sc)
            for value in FORBIDDEN:
                r = await sc.client.post(
                    "/v1/embeddings", json={"model": "sim-small", "input": value}, headers=sc.auth
                )
                assert r.status_code == 400, (str(value)[:40], r.text)
                assert r.json()["error"]["param"] == "input", r.text
            assert await sim_requests(sc) == before
            for value in ALLOWED:
                r = await sc.client.post(
                    "/v1/embeddings", json={"model": "sim-small", "input": value}, headers=sc.auth
                )
                assert r.status_code == 200, (str(value)[:40], r.text)

    asyncio.run(main())
