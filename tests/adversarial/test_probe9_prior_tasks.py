"""Outside probe (ninth session): a model's routing priors keyed by a task that does not exist
(`mathh`, `coding`, `Math`). `PATCH /arbiter/admin/models/{name}` answered 200 and stored
`{"priors": {"mathh": 0.9}}`, and `[models.X.priors]` in the config loaded the same: routing
looks a prior up by the exact task name, so the operator's prior never applied, with nothing
to say so. An unknown task is now the admin API's 400 naming it and a config problem (as
`routing.cascade_tasks` and `shadow.task_rates` already were), both listing the tasks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter import config
from arbiter.errors import ConfigError
from tests.inproc import sidecar_in_process

TYPOS = ("mathh", "coding", "Math")


def test_patching_a_prior_of_an_unknown_task_is_a_400(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            for task in TYPOS:
                r = await sc.client.patch(
                    "/arbiter/admin/models/sim-small",
                    json={"priors": {"chat": 0.5, task: 0.9}},
                    headers=sc.admin,
                )
                assert r.status_code == 400, (task, r.text)
                error = r.json()["error"]
                assert error["param"] == "priors" and task in error["message"], error
                assert "math" in error["message"]  # the tasks it could have meant
            r = await sc.client.patch(
                "/arbiter/admin/models/sim-small",
                json={"priors": {"math": 0.9, "vision": 0.4}},
                headers=sc.admin,
            )
            assert r.status_code == 200, r.text

    asyncio.run(main())


@pytest.mark.parametrize("task", TYPOS)
def test_a_config_prior_of_an_unknown_task_is_a_problem(task: str) -> None:
    text = (
        '[upstreams.u]\nbase_url = "http://127.0.0.1:1/v1"\n'
        '[models.m]\nupstream = "u"\nprice_in_per_mtok = 1\nprice_out_per_mtok = 2\n'
        f"[models.m.priors]\nchat = 0.5\n{task} = 0.9\n"
    )
    with pytest.raises(ConfigError, match=f"models.m.priors.{task}.*unknown task"):
        config.loads(text, env={})
    config.loads(text.replace(f"{task} = 0.9", "math = 0.9"), env={})
