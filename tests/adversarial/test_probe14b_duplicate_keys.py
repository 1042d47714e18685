"""Outside probe (probes14b): a key named twice in an admin body was read last-wins, in silence:
`{"tenant": "a", "tenant": "b"}` made a key for `b`, `{"enabled": false, "enabled": true}` left a
model on. Arbiter's own JSON endpoints (the admin writes, feedback) now answer a 400 naming the
key, at any depth, and change nothing; a body nested past the JSON bound is a 400 too. The model
surfaces keep last-wins (their hot path pays for no second parse)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.inproc import InProcess, sidecar_in_process

JSON = {"content-type": "application/json"}


def test_a_key_twice_in_an_admin_body_is_a_400_naming_it(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        headers = {**sc.admin, **JSON}

        async def send(method: str, path: str, raw: bytes, param: str | None) -> None:
            r = await sc.client.request(method, path, content=raw, headers=headers)
            assert r.status_code == 400, (path, raw, r.text)
            err = r.json()["error"]
            assert err["param"] == param and err["type"] == "invalid_request_error", (path, err)

        await send("POST", "/arbiter/admin/keys", b'{"tenant": "a", "tenant": "b"}', "tenant")
        await send("POST", "/arbiter/admin/keys", b'{"tenant":"a","name":"x","name":"x"}', "name")
        keys = (await sc.client.get("/arbiter/admin/keys", headers=sc.admin)).json()["data"]
        assert not {k["tenant"] for k in keys} & {"a", "b"}, "no key was made"
        await send(
            "PATCH", "/arbiter/admin/models/sim-tiny", b'{"enabled": true, "enabled": false}',
            "enabled",
        )  # fmt: skip
        await send(
            "PATCH", "/arbiter/admin/models/sim-tiny",
            b'{"priors": {"code": 0.9, "code": 0.1}}', "code",
        )  # fmt: skip
        await send(
            "POST", "/arbiter/challengers/sim-tiny", b'{"action": "pause", "action": "retire"}',
            "action",
        )  # fmt: skip
        await send("POST", "/arbiter/cache/purge", b'{"tenant": "a", "tenant": "b"}', "tenant")
        r = await sc.client.post(
            "/v1/feedback", content=b'{"decision_id": "x", "score": 1, "score": 0}',
            headers={**sc.auth, **JSON},
        )  # fmt: skip
        assert r.status_code == 400 and r.json()["error"]["param"] == "score", r.text
        deep = b'{"enabled": ' + b"[" * 200 + b"]" * 200 + b"}"
        await send("PATCH", "/arbiter/admin/models/sim-tiny", deep, None)
        models = (await sc.client.get("/arbiter/admin/models", headers=sc.admin)).json()["data"]
        [tiny] = [m for m in models if m["name"] == "sim-tiny"]
        assert tiny["enabled"] is True and tiny["priors"]["code"] != 0.1, "nothing was changed"
        # the same names in different objects, or once each, are fine
        r = await sc.client.post(
            "/arbiter/admin/keys", content=b'{"tenant": "c", "name": "tenant"}', headers=headers
        )
        assert r.status_code == 201, r.text
        r = await sc.client.request(
            "PATCH", "/arbiter/admin/models/sim-tiny", content=b'{"enabled": true}', headers=headers
        )
        assert r.status_code == 200, r.text

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())
