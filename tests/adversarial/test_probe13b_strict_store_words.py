"""Outside probe (thirteenth session): under `store.durability = "strict"`, a non-streamed answer
whose decision cannot be committed is a 503, and its message was the store error's own text.
During a PostgreSQL restart that read "postgres postgresql://postgres@127.0.0.1:33065/arbiter_test
unreachable for 0.6s; retrying soon" (the store's user, host, port and database, told to every
API client), or the driver's words ("OperationalError: no such table: decisions"). A stream in
the same spot already said only that the answer could not be recorded; both say that now, and
the store's words go to the operator's log."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from arbiter.store import NOT_RECORDED_MESSAGE, STORE_DOWN_MESSAGE
from tests.inproc import sidecar_in_process
from tests.pg import fresh_database, require_pg, set_connections

pytestmark = pytest.mark.timeout(60)


def _strict(text: str) -> str:
    assert "\n[store]\n" in text
    # the decisions table stays away: the stop's last writes cannot land, so it need not wait
    # store.shutdown_write_s's default 10 s for them
    strict = '\n[store]\ndurability = "strict"\nshutdown_write_s = 0.2\n'
    return text.replace("\n[store]\n", strict, 1)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_an_unrecorded_answer_says_so_without_the_stores_words(
    tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_strict) as sc:
            body = {
                "model": "sim-small", "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
            }  # fmt: skip
            r = await sc.client.post(path, json=body, headers=sc.auth_for(path))
            assert r.status_code == 200, r.text  # committed while the store works
            with contextlib.closing(sqlite3.connect(tmp_path / "arbiter.db")) as conn:
                conn.execute("ALTER TABLE decisions RENAME TO decisions_away")
                conn.commit()
            r = await sc.client.post(path, json=body, headers=sc.auth_for(path))
        # a 503 store_unavailable on both surfaces (Anthropic's as an api_error, not a 500 that
        # reads as the sidecar crashing)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["message"] == NOT_RECORDED_MESSAGE, r.text
        assert r.headers["x-should-retry"] == "true"
        assert "decisions" not in r.text.replace("decision store", "")
        assert "not recorded" in caplog.text and "no such table" in caplog.text  # the log's

    asyncio.run(main())


@pytest.mark.postgres
def test_a_client_never_reads_the_stores_url_while_it_is_down(tmp_path: Path) -> None:
    """A client route that reads the store (a client key's decisions) answered a
    PostgreSQL outage with the gate's own words: "postgres postgresql://user@host:port/db
    unreachable for 0.6s; retrying soon". The client reads that the store is unavailable."""

    def on_pg(url: str) -> Callable[[str], str]:
        def edit(text: str) -> str:
            start = text.index("[store]\nurl = ")
            end = text.index("\n", start + len("[store]\nurl = "))
            return text[:start] + f'[store]\nurl = "{url}"' + text[end:]

        return edit

    with fresh_database(require_pg()) as url:
        db = url.rsplit("/", 1)[1]

        async def main() -> list[httpx.Response]:
            async with sidecar_in_process(tmp_path, edit_config=on_pg(url)) as sc:
                body = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 200, r.text  # the key is now cached
                await asyncio.to_thread(set_connections, db, False)
                try:  # feedback is taken in memory; a client key's decisions are read
                    return [await sc.client.get("/arbiter/decisions", headers=sc.auth)]
                finally:
                    await asyncio.to_thread(set_connections, db, True)

        answers = asyncio.run(main())
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.json()["error"]["message"] == STORE_DOWN_MESSAGE, r.text
        assert db not in r.text and "127.0.0.1" not in r.text and "postgres" not in r.text


@pytest.mark.postgres
def test_a_stop_while_the_store_is_down_still_stops_everything(tmp_path: Path) -> None:
    """Services.stop ran a last policy sync, and a StoreError from it (the store down, or back
    but its gate still cooling down) ended the stop there: the recorder never got its 10 s to
    write its backlog, the upstreams and the store were never closed, and the app's shutdown
    failed with the store's error."""

    def on_pg(url: str) -> Callable[[str], str]:
        def edit(text: str) -> str:
            start = text.index("[store]\nurl = ")
            end = text.index("\n", start + len("[store]\nurl = "))
            # shutdown_write_s: the store stays down through the stop, so the recorder's last
            # writes cannot land; it still has to be stopped, without waiting the default 10 s
            store = f'[store]\nshutdown_write_s = 0.2\nurl = "{url}"'
            return text[:start] + store + text[end:]

        return edit

    stopped_recorder: list[bool] = []
    with fresh_database(require_pg()) as url:
        db = url.rsplit("/", 1)[1]

        async def main() -> None:
            try:
                async with sidecar_in_process(tmp_path, edit_config=on_pg(url)) as sc:
                    body = {"model": "sim-small", "messages": [{"role": "user", "content": "hi"}]}
                    r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                    assert r.status_code == 200, r.text
                    await asyncio.to_thread(set_connections, db, False)
                    r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                    assert r.status_code == 200, r.text  # served; its decision is buffered
                    recorder = sc.services.recorder
                # the context's exit ran Services.stop with the store still down
                stopped_recorder.append(recorder._thread is None or not recorder._thread.is_alive())
            finally:
                await asyncio.to_thread(set_connections, db, True)

        asyncio.run(main())
    assert stopped_recorder == [True]
