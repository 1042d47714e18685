"""Discovery end to end, in process: the sim's listing changes (POST /_sim/control) and the
sidecar's pool follows it: a new model is routed, one that leaves is not (a request already on it
finishes), one that returns is again, a price change updates estimates and raises an alert, an
unpriced model is callable by name only until an operator prices it, an operator's price wins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from arbiter.services import Services
from tests.inproc import InProcess, sidecar_in_process
from tests.waiting import until_async

MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
HIDDEN = """
[models.sim-new]
price_in_per_mtok = 0.05
price_out_per_mtok = 0.1
listed = false
context_window = 64000
[models.sim-free]
listed = false
list_price = false
[models.text-embed]
listed = false
[models."gpt-4o-mini"]
listed = false
"""


def discover(text: str) -> str:
    return text.replace(
        "[upstreams.sim]\n",
        '[upstreams.sim]\ndiscover = true\ndiscover_interval_s = 3600\nexclude = ["*-embed"]\n',
    )


def run(tmp_path: Path, body: Callable[[InProcess], Awaitable[None]]) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=discover, edit_sim=lambda t: t + HIDDEN
        ) as sc:
            await body(sc)

    asyncio.run(main())


async def control(sc: InProcess, **patch: Any) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{sc.sim.root_url}/_sim/control", json=patch)
        assert r.status_code == 200, r.text


async def poll(sc: InProcess) -> None:
    assert await sc.services.discovery.poll_once("sim") is not None


def pool(s: Services) -> set[str]:
    return {m.name for m in s.pool}


async def alerts(sc: InProcess, kind: str) -> list[dict[str, Any]]:
    r = await sc.client.get("/arbiter/alerts", headers=sc.admin)
    return [a for a in r.json()["data"] if a["kind"] == kind]


async def chat(sc: InProcess, model: str) -> httpx.Response:
    return await sc.client.post(
        "/v1/chat/completions", json={"model": model, "messages": MESSAGES}, headers=sc.auth
    )


def test_new_model_enters_leaves_and_returns(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await poll(sc)
        assert "sim-new" not in pool(sc.services)
        assert (await chat(sc, "sim-new")).status_code == 404
        await control(sc, model="sim-new", listed=True)
        await poll(sc)
        assert "sim-new" in pool(sc.services)
        for router in sc.services._routers.values():
            assert "sim-new" in router.pool
        m = sc.services.registry["sim-new"]
        assert (m.price_in_per_mtok, m.price_out_per_mtok, m.context_window) == (0.05, 0.1, 64000)
        r = await chat(sc, "sim-new")
        assert r.status_code == 200 and r.headers["x-arbiter-model"] == "sim-new"
        assert len(await alerts(sc, "models_discovered")) == 1
        await control(sc, model="sim-new", listed=False)
        await poll(sc)
        assert "sim-new" not in pool(sc.services)
        assert (await chat(sc, "sim-new")).status_code == 404
        for _ in range(10):
            r = await chat(sc, "auto")
            assert r.status_code == 200 and r.headers["x-arbiter-model"] != "sim-new"
        assert len(await alerts(sc, "models_gone")) == 1
        await control(sc, model="sim-new", listed=True)
        await poll(sc)
        assert "sim-new" in pool(sc.services)
        assert (await chat(sc, "sim-new")).status_code == 200
        assert len(await alerts(sc, "models_back")) == 1
        # excluded by the upstream's globs, even when listed
        await control(sc, model="text-embed", listed=True)
        await poll(sc)
        assert not sc.services.registry.known("text-embed")
        assert sc.services.discovery.stats["sim"].excluded == 1

    run(tmp_path, body)


def test_a_request_in_flight_keeps_its_model_when_it_leaves(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await control(sc, model="sim-new", listed=True, latency_ms=1500, latency_jitter_ms=0)
        await poll(sc)
        call = asyncio.create_task(chat(sc, "sim-new"))

        async def at_the_upstream() -> bool:  # a fixed 0.5 s was not always enough under load
            async with httpx.AsyncClient() as c:
                stats = (await c.get(f"{sc.sim.root_url}/_sim/stats")).json()["models"]
            return bool(stats.get("sim-new", {}).get("requests"))

        await until_async(at_the_upstream, "the call never reached the upstream")
        await control(sc, model="sim-new", listed=False)
        await poll(sc)
        assert "sim-new" not in pool(sc.services)
        r = await call
        assert r.status_code == 200, r.text
        assert r.headers["x-arbiter-model"] == "sim-new"
        usage = r.json()["usage"]
        expected = (usage["prompt_tokens"] * 0.05 + usage["completion_tokens"] * 0.1) / 1e6
        assert abs(float(r.headers["x-arbiter-cost-usd"]) - expected) < 1e-9

    run(tmp_path, body)


def test_price_change_updates_estimates_and_alerts(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await control(sc, model="sim-new", listed=True)
        await poll(sc)
        await control(sc, model="sim-new", price_out_per_mtok=0.2)
        await poll(sc)
        assert sc.services.registry["sim-new"].price_out_per_mtok == 0.2
        for router in sc.services._routers.values():
            assert router.pool["sim-new"].price_out_per_mtok == 0.2
        r = await chat(sc, "sim-new")
        usage = r.json()["usage"]
        expected = (usage["prompt_tokens"] * 0.05 + usage["completion_tokens"] * 0.2) / 1e6
        assert abs(float(r.headers["x-arbiter-cost-usd"]) - expected) < 1e-9
        (alert,) = await alerts(sc, "price_changed")
        assert alert["model"] == "sim-new"
        assert alert["data"]["new"]["price_out_per_mtok"] == 0.2
        # an operator's price wins over the listing's, which still raises the alert
        r = await sc.client.patch(
            "/arbiter/admin/models/sim-new", json={"price_out_per_mtok": 0.15}, headers=sc.admin
        )
        assert r.status_code == 200, r.text
        await control(sc, model="sim-new", price_out_per_mtok=0.4)
        await poll(sc)
        assert sc.services.registry["sim-new"].price_out_per_mtok == 0.15
        assert len(await alerts(sc, "price_changed")) == 2

    run(tmp_path, body)


def test_unpriced_model_is_callable_by_name_not_routed_until_priced(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        await control(sc, model="sim-free", listed=True)
        await poll(sc)
        reg = sc.services.registry
        assert reg.known("sim-free") and "sim-free" not in pool(sc.services)
        r = await chat(sc, "sim-free")
        assert r.status_code == 200 and r.headers["x-arbiter-model"] == "sim-free"
        (alert,) = await alerts(sc, "model_unpriced")
        assert alert["model"] == "sim-free" and "auto" in alert["message"]
        listed = (await sc.client.get("/v1/models", headers=sc.auth)).json()["data"]
        free = next(m for m in listed if m["id"] == "sim-free")
        assert free["price_in_per_mtok"] is None and free["routed"] is False
        r = await sc.client.patch(
            "/arbiter/admin/models/sim-free",
            json={"price_in_per_mtok": 0.01, "price_out_per_mtok": 0.02},
            headers=sc.admin,
        )
        assert r.status_code == 200, r.text
        assert "sim-free" in pool(sc.services)
        view = (await sc.client.get("/arbiter/admin/models", headers=sc.admin)).json()
        row = next(m for m in view["data"] if m["name"] == "sim-free")
        assert row["source"] == "discovered" and row["priced"] is True
        assert view["discovery"]["sim"]["polls"] >= 1

    run(tmp_path, body)


# -- hostile listings: a real socket serving whatever bytes the test gives ------------------
async def _serve_bytes(
    payload: bytes | Callable[[bytes], bytes], seen: list[bytes] | None = None
) -> tuple[asyncio.Server, str]:
    """A loopback HTTP server answering every request with `payload` (or payload(request head))."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal payload
        request = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(request)
        body = payload(request) if callable(payload) else payload
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        writer.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
        with contextlib.suppress(ConnectionError):  # the client stopped reading (too big)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"


def test_hostile_listings_change_nothing_and_never_crash(tmp_path: Path) -> None:
    import dataclasses

    from arbiter.discovery import MAX_LISTING_BYTES, Discovery

    good = b'{"data": [{"id": "keep-me", "pricing": {"prompt": "1e-7", "completion": "2e-7"}}]}'
    hostile = [
        b"[" * 100_000 + b"]" * 100_000,  # nesting far past orjson's 1024 levels
        b'{"data": [' + b'{"id": "x", "pricing": ' * 2000 + b"1" + b"}" * 2000 + b"]}",
        b'{"data": ' + b'"' + b"a" * (MAX_LISTING_BYTES + 10) + b'"}',  # over the byte cap
        b"\xff\xfe not json",
        b'{"data": "nope"}',
        b'{"object": "list"}',
    ]

    async def body(sc: InProcess) -> None:
        up = dataclasses.replace(sc.services.settings.upstreams["sim"], exclude=[])
        store, alerts = sc.services.store, sc.services.alerts
        server, url = await _serve_bytes(good)
        d = Discovery({"h": dataclasses.replace(up, base_url=url)}, store, alerts, lambda: None,
                      lambda _m: True)  # fmt: skip
        assert (await d.poll_once("h")).new == ["keep-me"]  # type: ignore[union-attr]
        server.close()
        for payload in hostile:
            server, url = await _serve_bytes(payload)
            d.upstreams["h"] = dataclasses.replace(up, base_url=url)
            assert await d.poll_once("h") is None, payload[:40]
            server.close()
        rows = [r for r in store.discovered_models() if r.upstream == "h"]
        assert [(r.model, r.present) for r in rows] == [("keep-me", True)]
        assert d.stats["h"].failures == len(hostile)
        # a listing with junk entries: the good ones count, the bad are skipped and counted
        junk = b'{"data": [{"id": "keep-me"}, {"id": ""}, 7, {"id": "a b"}, {"nope": 1}]}'
        server, url = await _serve_bytes(junk)
        d.upstreams["h"] = dataclasses.replace(up, base_url=url)
        assert await d.poll_once("h") is not None
        assert d.stats["h"].skipped_entries == 4 and d.stats["h"].listed == 1
        server.close()

    run(tmp_path, body)


# -- GET /v1/models: the tenant's view, with prices, through both official SDKs -------------
def test_models_list_is_the_tenants_view_with_prices(tmp_path: Path) -> None:
    from tests.sdk_clients import sdks

    def tenant(text: str) -> str:
        return text + '\n[tenants.narrow]\nallowed_models = ["sim-tiny", "sim-small"]\n'

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=tenant, tenant="narrow") as sc:
            async with sdks(sc) as (claude, gpt):
                oai = [m async for m in gpt.models.list()]
                ant = [m async for m in claude.models.list()]
            assert [m.id for m in oai] == ["auto", "sim-tiny", "sim-small"]
            assert [m.id for m in ant] == ["auto", "sim-tiny", "sim-small"]
            tiny = oai[1].model_dump()
            assert (tiny["price_in_per_mtok"], tiny["price_out_per_mtok"]) == (0.1, 0.2)
            assert tiny["context_window"] == 32000 and tiny["routed"] is True
            assert ant[1].model_dump()["price_out_per_mtok"] == 0.2
            from arbiter.auth import create_key

            wide = create_key(sc.services.store, "default").key
            r = await sc.client.get("/v1/models", headers={"authorization": f"Bearer {wide}"})
            listed = {m["id"]: m["routed"] for m in r.json()["data"]}
            # the `no-route` judge is callable by name: listed, as not routed
            assert listed == {"auto": True, "sim-tiny": True, "sim-small": True,
                              "sim-medium": True, "sim-premium": True, "judge": False}  # fmt: skip

    asyncio.run(main())


# -- warm start: priors from routing.priors_file and the shipped family rules --------------
def test_serve_loads_priors_file_and_family_priors_and_they_fade(tmp_path: Path) -> None:
    pri = tmp_path / "priors.json"
    pri.write_text(
        '{"quality": {"sim-medium": {"knowledge": 0.9, "code": 0.1}}, "output_length": {}}'
    )

    def cfg(text: str) -> str:
        return discover(text).replace("[routing]\n", f'[routing]\npriors_file = "{pri}"\n')

    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=cfg, edit_sim=lambda t: t + HIDDEN
        ) as sc:
            s = sc.services
            medium = s.registry["sim-medium"]
            assert medium.priors["knowledge"] == 0.9
            assert medium.priors["code"] == 0.85  # the config's own prior wins over the file
            await control(sc, model="gpt-4o-mini", listed=True)
            await poll(sc)
            mini = s.registry["gpt-4o-mini"]  # a discovered model gets its family's prior
            assert (mini.priors["math"], mini.priors["code"]) == (0.87, 0.872)
            router = s.router_for_tenant("default")
            pm = router.pool["sim-medium"]

            def mean() -> float:
                a, b = router.posterior("default", "knowledge", pm)
                return a / (a + b)

            assert abs(mean() - 0.9) < 0.01
            for _ in range(100):
                router.learn("default", "knowledge", "sim-medium", 0.2)
            assert abs(mean() - 0.2) < 0.07  # the prior has faded under live grades

    asyncio.run(main())


def test_anthropic_listing_is_read_page_by_page(tmp_path: Path) -> None:
    import dataclasses

    import orjson

    from arbiter.discovery import Discovery

    def page(request: bytes) -> bytes:
        after = request.split(b" ", 2)[1].partition(b"after_id=")[2].split(b"&")[0].decode()
        start = int(after.rsplit("-", 1)[1]) + 1 if after else 0
        ids = [f"claude-test-{i}" for i in range(start, min(start + 2, 5))]
        data = [{"type": "model", "id": i, "max_input_tokens": 200000} for i in ids]
        return orjson.dumps({"data": data, "has_more": ids[-1] != "claude-test-4",
                             "first_id": ids[0], "last_id": ids[-1]})  # fmt: skip

    async def body(sc: InProcess) -> None:
        seen: list[bytes] = []
        server, url = await _serve_bytes(page, seen)
        up = dataclasses.replace(
            sc.services.settings.upstreams["sim"], base_url=url.removesuffix("/v1"),
            protocol="anthropic", api_key="sk-test", exclude=[],
        )  # fmt: skip
        d = Discovery({"a": up}, sc.services.store, sc.services.alerts, lambda: None,
                      lambda _m: True)  # fmt: skip
        changes = await d.poll_once("a")
        server.close()
        assert changes is not None and changes.new == [f"claude-test-{i}" for i in range(5)]
        assert len(seen) == 3
        first = seen[0].lower()
        assert first.startswith(b"get /v1/models?limit=1000 ")
        assert b"x-api-key: sk-test" in first and b"anthropic-version: 2023-06-01" in first
        assert b"authorization" not in first

    run(tmp_path, body)
