"""rep26 probes, two replicas on one PostgreSQL store, as an outsider would try them: a key
revoked through replica A while replica B serves it (B refuses it within its key cache's
`auth.key_cache_ttl_s`, in each surface's shape)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process
from tests.pg import empty_store_url

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(90)]
CHAT = {"model": "auto", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}


def test_a_key_revoked_on_one_replica_is_refused_by_the_other_within_its_cache_ttl(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        with empty_store_url("postgres", tmp_path / "unused.db") as url:
            (tmp_path / "a").mkdir()
            (tmp_path / "b").mkdir()
            async with (
                sidecar_in_process(tmp_path / "a", store_url=url) as a,
                sidecar_in_process(tmp_path / "b", store_url=url) as b,
            ):
                ttl = b.services.settings.auth.key_cache_ttl_s
                ok = await b.client.post("/v1/chat/completions", json=CHAT, headers=b.auth)
                assert ok.status_code == 200, ok.text  # B holds the key in its cache
                key_id = b.api_key.split("-")[1]
                loop = asyncio.get_running_loop()
                revoked = await a.client.delete(f"/arbiter/admin/keys/{key_id}", headers=a.admin)
                assert revoked.status_code == 200, revoked.text
                start = loop.time()
                while True:
                    r = await b.client.post("/v1/chat/completions", json=CHAT, headers=b.auth)
                    if r.status_code != 200:
                        break
                    assert loop.time() - start < ttl + 5, "B still serves the revoked key"
                    await asyncio.sleep(0.05)
                took = loop.time() - start
                assert r.status_code == 401, r.text
                assert "revoked" in r.json()["error"]["message"], r.text
                assert took < ttl + 2, took
                m = await b.client.post(
                    "/v1/messages", json={**CHAT, "model": "auto"}, headers=b.anthropic
                )
                assert m.status_code == 401, m.text
                assert m.json()["error"]["type"] == "authentication_error", m.text
                # and A, which revoked it, at once
                r = await a.client.post("/v1/chat/completions", json=CHAT, headers=b.auth)
                assert r.status_code == 401, r.text

    asyncio.run(main())
