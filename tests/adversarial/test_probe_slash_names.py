"""Outside probe: model names with a slash ("openai/gpt-4o", "meta-llama/Llama-3.1-8B": what
OpenRouter and vLLM list, and what discovery adds to the pool). Clients could call them and
`GET /v1/models/{id}` found them, but the operator's `PATCH /arbiter/admin/models/{name}` and
`POST /arbiter/challengers/{name}` answered 404 "Unknown path", escaped (%2F) or not: such a
model's price, priors or enablement could not be changed, nor a challenger of that name
promoted or paused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process

NAME = "org/sim-x"
MODEL = (
    f'\n[models."{NAME}"]\nupstream = "sim"\nupstream_model = "sim-tiny"\n'
    "price_in_per_mtok = 0.1\nprice_out_per_mtok = 0.2\ncontext_window = 32000\n"
    'capabilities = ["chat"]\n'
)


@pytest.mark.parametrize("path_name", [NAME, "org%2Fsim-x"])
def test_the_admin_api_reaches_a_model_whose_name_has_a_slash(
    tmp_path: Path, path_name: str
) -> None:
    shadow = f'\n[shadow]\nchallengers = ["{NAME}"]\nsample_rate = 1.0\nbudget_usd = 1.0\n'

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + MODEL + shadow) as sc:
            r = await sc.client.patch(
                f"/arbiter/admin/models/{path_name}",
                json={"price_in_per_mtok": 0.3},
                headers=sc.admin,
            )
            assert r.status_code == 200, r.text
            listed = await sc.client.get(f"/v1/models/{NAME}", headers=sc.auth)
            assert listed.json()["price_in_per_mtok"] == 0.3
            r = await sc.client.post(
                f"/arbiter/challengers/{path_name}", json={"action": "pause"}, headers=sc.admin
            )
            assert r.status_code == 200, r.text

    asyncio.run(main())
