"""A caller guessing keys met no limit: each unknown key id was a store lookup (in a thread)
once per `key_cache_ttl_s`, as many a second as it could send (probe24b). Now one client address
may cause `auth.unknown_keys_per_minute` lookups of keys this process holds no record of, past
it a 429 in the surface's shape with retry-after; a known key from that address, and every key
from another, are served as before."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx

from arbiter.auth import create_key
from tests.inproc import InProcess, sidecar_in_process

LIMIT = 5
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {**CHAT, "max_tokens": 16}


def _limit(text: str) -> str:
    return text.replace("[auth]\n", f"[auth]\nunknown_keys_per_minute = {LIMIT}\n", 1)


def _guess() -> str:
    return f"arb-{secrets.token_hex(6)}-{secrets.token_urlsafe(32)}"


def _from(sc: InProcess, host: str) -> httpx.AsyncClient:
    """A client of the same app seen from another address."""
    transport = httpx.ASGITransport(app=sc.app, client=(host, 4711))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


def test_key_guesses_from_one_address_are_bounded_and_known_keys_pass(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_limit) as sc:
            assert sc.services.settings.auth.unknown_keys_per_minute == LIMIT
            store = sc.services.store
            lookups: list[str] = []
            real_get = store.get_key

            def counted(key_id: str) -> object:
                lookups.append(key_id)
                return real_get(key_id)

            store.get_key = counted  # type: ignore[method-assign]
            # the client's own key, used once from this address: a record this process holds
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
            assert r.status_code == 200, r.text
            before = len(lookups)
            statuses = []
            for _ in range(3 * LIMIT):
                r = await sc.client.post(
                    "/v1/chat/completions",
                    json=CHAT,
                    headers={"authorization": f"Bearer {_guess()}"},
                )
                statuses.append(r.status_code)
            assert statuses[:LIMIT] == [401] * LIMIT, statuses
            assert set(statuses[LIMIT:]) == {429}, statuses
            assert len(lookups) - before == LIMIT, "a refused guess is no store lookup"
            body = r.json()["error"]
            assert body["code"] == "rate_limit_exceeded", body
            assert "unknown_keys_per_minute" in body["message"]
            assert int(r.headers["retry-after"]) >= 1
            # the same refusal in Anthropic's shape on its surface
            r = await sc.client.post(
                "/v1/messages", json=MESSAGES,
                headers={"x-api-key": _guess(), "anthropic-version": "2023-06-01"},
            )  # fmt: skip
            assert r.status_code == 429, r.text
            assert r.json()["type"] == "error", r.text
            assert r.json()["error"]["type"] == "rate_limit_error", r.text
            # the known key from the throttled address, after its cache entry went stale
            await asyncio.sleep(sc.services.settings.auth.key_cache_ttl_s + 0.05)
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
            assert r.status_code == 200, r.text
            # another address: its guesses and a new key of its own are its own business
            other = create_key(store, "default").key
            async with _from(sc, "10.0.0.9") as c:
                r = await c.post("/v1/chat/completions", json=CHAT,
                                 headers={"authorization": f"Bearer {_guess()}"})  # fmt: skip
                assert r.status_code == 401, r.text
                r = await c.post("/v1/chat/completions", json=CHAT,
                                 headers={"authorization": f"Bearer {other}"})  # fmt: skip
                assert r.status_code == 200, r.text

    asyncio.run(main())
