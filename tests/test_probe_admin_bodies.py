"""Outside probes of the admin API's bodies: a value that cannot mean what the operator meant is
a 400 naming it, never a quiet success that does something else."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import InProcess, sidecar_in_process

CACHE_ON = "\n[cache]\nenabled = true\n"
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "What is the capital of Peru?"}]}


def _run(tmp_path: Path, body: object, edit: str = "") -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + edit) as sc:
            await body(sc)  # type: ignore[operator]

    asyncio.run(main())


def test_a_purge_for_a_null_tenant_or_model_is_refused_not_a_purge_of_everything(
    tmp_path: Path,
) -> None:
    """`{"tenant": null}` (a script's unset variable) purged every tenant's entries, as `{}`."""

    async def body(sc: InProcess) -> None:
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
        assert r.status_code == 200, r.text
        await sc.services.cache.drain()
        listed = await sc.client.get("/arbiter/cache", headers=sc.admin)
        assert len(listed.json()["data"]) == 1, listed.text
        for sent in ({"tenant": None}, {"model": None}, {"tenant": None, "model": "sim-small"}):
            r = await sc.client.post("/arbiter/cache/purge", json=sent, headers=sc.admin)
            assert r.status_code == 400, (sent, r.text)
            assert "leave it out" in r.json()["error"]["message"], r.text
        listed = await sc.client.get("/arbiter/cache", headers=sc.admin)
        assert len(listed.json()["data"]) == 1, "nothing was purged"
        r = await sc.client.post("/arbiter/cache/purge", json={}, headers=sc.admin)
        assert r.status_code == 200 and r.json()["purged"] == 1, r.text

    _run(tmp_path, body, CACHE_ON)


def test_a_challenger_promoted_for_an_unknown_task_is_refused(tmp_path: Path) -> None:
    """Promoted for a task routing never asks for (a typo), the model entered routing nowhere
    while the answer said "promoted"."""

    async def body(sc: InProcess) -> None:
        for tasks in (["nope"], ["chat", "Chat"], ["chat "]):
            r = await sc.client.post(
                "/arbiter/challengers/sim-small",
                json={"action": "promote", "tasks": tasks},
                headers=sc.admin,
            )
            assert r.status_code == 400, (tasks, r.text)
            assert r.json()["error"]["param"] == "tasks", r.text
            assert "unknown task" in r.json()["error"]["message"], r.text
        r = await sc.client.post(
            "/arbiter/challengers/sim-small",
            json={"action": "promote", "tasks": ["chat", "vision"]},
            headers=sc.admin,
        )
        assert r.status_code == 200, r.text
        assert r.json()["tasks"] == ["chat", "vision"]

    _run(tmp_path, body)
