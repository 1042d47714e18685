"""Outside probe (tenth session): a NUL character in a prompt, with the response cache on a
PostgreSQL store.

JSON allows `\\u0000` in a string and the sidecar took the request, but PostgreSQL's `text`
cannot hold NUL: the cache entry's write (its `user_text` column, the prompt) failed, was
taken for an unreachable store (the cache skipped the store for every request on the replica
for a second after, counted as errors) and logged a warning with a traceback, per request. So
one client could keep the shared cache tier off for everyone and fill the log. The prompt is now
stored with U+FFFD for NUL (the entry's exact key is a hash of the real text; the stored text
only feeds the semantic check), and a write the store refuses for its data is not taken for an
outage. SQLite holds NUL; it is run too, as the reference."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.inproc import sidecar_in_process
from tests.pg import empty_store_url

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_prompt_with_nul_is_cached_in_the_store_without_an_outage(
    tmp_path: Path, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="arbiter")

    async def main(url: str) -> None:
        def edit(text: str) -> str:
            return "[cache]\nenabled = true\n" + text

        async with sidecar_in_process(tmp_path, edit_config=edit, store_url=url) as sc:
            for prompt in ("Say a\u0000b.", "Say hello."):
                r = await sc.client.post(
                    "/v1/chat/completions",
                    json={"model": "sim-small", "messages": [{"role": "user", "content": prompt}]},
                    headers=sc.auth,
                )
                assert r.status_code == 200, r.text
                assert r.headers["x-arbiter-cache"] == "miss"
                await asyncio.sleep(0.3)  # the entry's write runs in the background
            listed = await sc.client.get("/arbiter/cache", headers=sc.admin)
            assert listed.status_code == 200, listed.text
            assert len(listed.json()["data"]) == 2, listed.text  # both reached the store
            assert sc.services.cache.counts["errors"] == 0
            # a repeat of the NUL prompt is a hit
            r = await sc.client.post(
                "/v1/chat/completions",
                json={
                    "model": "sim-small",
                    "messages": [{"role": "user", "content": "Say a\u0000b."}],
                },
                headers=sc.auth,
            )
            assert r.headers["x-arbiter-cache"] == "hit", r.headers

    with empty_store_url(backend, tmp_path / "arbiter.db") as url:
        asyncio.run(main(url))
    assert [r.getMessage() for r in caplog.records if "cache" in r.getMessage()] == []
