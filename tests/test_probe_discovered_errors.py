"""Outside probes of discovered models (in the registry from an upstream's listing, never in the
config): when the upstream answers 404 for one (say it left the listing since the last poll), the
client gets a clear error, an `upstream_config` alert names the model, and nothing is a 500. A
listed model named `auto` (Arbiter's own name for "route this") never enters the pool."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import orjson

from arbiter.offline.demo import API_KEY_ENV
from tests.inproc import sidecar_in_process
from tests.raw_http import loopback_upstream

LISTING = orjson.dumps(
    {"data": [{"id": "ghost", "pricing": {"prompt": "1e-7", "completion": "2e-7"}}]}
)
NOT_FOUND = orjson.dumps(
    {"error": {"message": "The model `ghost` does not exist.", "code": "model_not_found"}}
)


def ghost_upstream(listing: bytes = LISTING) -> AbstractAsyncContextManager[str]:
    """A loopback OpenAI-protocol upstream that lists `listing` and answers 404 for any model."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        listing_asked = head.startswith(b"GET")
        status, body = (b"200 OK", listing) if listing_asked else (b"404 Not Found", NOT_FOUND)
        head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\n" % status
        head += b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        writer.write(head + body)
        await writer.drain()

    return loopback_upstream(handle)


def test_a_discovered_model_the_upstream_does_not_know_is_a_clear_error(tmp_path: Path) -> None:
    async def main() -> None:
        async with ghost_upstream() as url:
            extra = (f'\n[upstreams.ghosty]\nbase_url = "{url}"\napi_key_env = "{API_KEY_ENV}"\n'
                     "discover = true\ndiscover_interval_s = 3600\n")  # fmt: skip
            async with sidecar_in_process(tmp_path, edit_config=lambda t: t + extra) as sc:
                await sc.services.discovery.poll_once("ghosty")
                assert sc.services.registry.known("ghost")
                for path, body in (
                    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi."}]}),
                    ("/v1/responses", {"input": "Hi."}),
                ):
                    r = await sc.client.post(path, json={"model": "ghost", **body}, headers=sc.auth)
                    assert 400 <= r.status_code < 600 and r.status_code != 500, r.text
                    assert r.json()["error"]["type"] != "server_error" or r.status_code != 500
                sc.services.recorder.flush(5.0)
                r = await sc.client.get("/arbiter/alerts", headers=sc.admin)
                alerts = [a for a in r.json()["data"] if a["kind"] == "upstream_config"]
                assert alerts and alerts[0]["model"] == "ghost", r.json()["data"]
                assert "ghosty" in alerts[0]["message"]

    asyncio.run(main())


def test_a_listed_model_named_auto_never_enters_the_pool(tmp_path: Path) -> None:
    priced = {"pricing": {"prompt": "1e-9", "completion": "1e-9"}}
    listing = orjson.dumps({"data": [{"id": "auto", **priced}, {"id": "ghost", **priced}]})

    async def main() -> None:
        async with ghost_upstream(listing) as url:
            extra = (f'\n[upstreams.ghosty]\nbase_url = "{url}"\napi_key_env = "{API_KEY_ENV}"\n'
                     "discover = true\ndiscover_interval_s = 3600\n")  # fmt: skip
            async with sidecar_in_process(tmp_path, edit_config=lambda t: t + extra) as sc:
                d = sc.services.discovery
                changes = await d.poll_once("ghosty")
                assert changes is not None and "auto" not in changes.new
                assert d.stats["ghosty"].skipped_entries == 1
                # a row already in the store (an older version wrote it) is not adopted either
                store = sc.services.store
                await asyncio.to_thread(
                    store.record_listing, "ghosty", {"auto": {}, "ghost": {}}, time.time()
                )
                sc.services.sync_policy()
                assert not sc.services.registry.known("auto")
                r = await sc.client.get("/v1/models", headers=sc.auth)
                ids = [m["id"] for m in r.json()["data"]]
                assert ids.count("auto") == 1 and "ghost" in ids, ids
                for _ in range(6):  # `auto` routes, never to a model named auto
                    r = await sc.client.post(
                        "/v1/chat/completions",
                        json={"model": "auto", "messages": [{"role": "user", "content": "Hi."}]},
                        headers=sc.auth,
                    )
                    assert r.status_code == 200, r.text
                    assert r.headers["x-arbiter-model"] != "auto"

    asyncio.run(main())


def test_warnings_about_a_discovered_model_name_its_upstream(tmp_path: Path) -> None:
    from tests.test_request_log import captured

    async def main() -> None:
        async with ghost_upstream() as url:
            extra = (f'\n[upstreams.ghosty]\nbase_url = "{url}"\napi_key_env = "{API_KEY_ENV}"\n'
                     "discover = true\ndiscover_interval_s = 3600\n")  # fmt: skip
            async with sidecar_in_process(tmp_path, edit_config=lambda t: t + extra) as sc:
                await sc.services.discovery.poll_once("ghosty")
                configured = {m.name: m.upstream for m in sc.services.settings.models.values()}
                with captured("json", configured) as out:  # what `arbiter serve` installs
                    r = await sc.client.post(
                        "/v1/chat/completions",
                        json={"model": "ghost", "messages": [{"role": "user", "content": "Hi."}]},
                        headers=sc.auth,
                    )
                    assert r.status_code == 404, r.text
        lines = [orjson.loads(x) for x in out.getvalue().splitlines() if x.startswith("{")]
        about = [x for x in lines if x["level"] == "warning" and "ghost" in x.get("model", "")]
        assert about, lines
        for line in about:
            assert line.get("upstream") == "ghosty", line

    asyncio.run(main())
