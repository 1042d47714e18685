"""`GET /arbiter/admin/models` was built on the event loop, every model at once (thousands of
discovered models with their listings: megabytes). It pages now, by model name (`limit` 1-1000,
default 1000; `after=<last_id>` while `has_more`), rows and JSON built in a worker thread."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from arbiter.registry import Registry
from tests.inproc import sidecar_in_process


def test_the_registry_view_pages_by_name_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built_in: list[str] = []
    view = Registry.view

    def spy(self: Registry, *args: Any) -> list[dict[str, Any]]:
        built_in.append(threading.current_thread().name)
        return view(self, *args)

    monkeypatch.setattr(Registry, "view", spy)

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            reg = sc.services.registry
            first = reg.nameable_models()[0]
            many = {f"bulk-{i:05d}": dataclasses.replace(first, name=f"bulk-{i:05d}")
                    for i in range(2_300)}  # fmt: skip
            reg.reconfigure({**{m.name: m for m in reg.nameable_models()}, **many})
            total = len(reg.nameable_models())
            loop_thread = threading.current_thread().name
            seen: list[str] = []
            after, pages = None, 0
            while True:
                params = {} if after is None else {"after": after}
                r = await sc.client.get("/arbiter/admin/models", params=params, headers=sc.admin)
                assert r.status_code == 200, r.text
                body = r.json()
                assert len(body["data"]) <= 1000 and "discovery" in body
                seen += [m["name"] for m in body["data"]]
                pages += 1
                if not body["has_more"]:
                    break
                after = body["last_id"]
            assert pages == 3 and len(seen) == total and seen == sorted(set(seen))
            assert built_in and loop_thread not in built_in

            r = await sc.client.get(
                "/arbiter/admin/models", params={"limit": 3, "after": "bulk-00010"},
                headers=sc.admin,
            )  # fmt: skip
            assert [m["name"] for m in r.json()["data"]] == ["bulk-00011", "bulk-00012",
                                                             "bulk-00013"]  # fmt: skip
            assert r.json()["has_more"] and r.json()["last_id"] == "bulk-00013"
            for params in ({"limit": "0"}, {"limit": "1001"}, {"after": "a\x00b"},
                           {"offset": "3"}):  # fmt: skip
                r = await sc.client.get("/arbiter/admin/models", params=params, headers=sc.admin)
                assert r.status_code == 400, (params, r.text)
                assert r.json()["error"]["param"] in ("limit", "after", "offset"), r.text

    asyncio.run(main())
