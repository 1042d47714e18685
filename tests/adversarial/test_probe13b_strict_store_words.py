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
from pathlib import Path

import pytest

from arbiter.store import NOT_RECORDED_MESSAGE
from tests.inproc import sidecar_in_process

pytestmark = pytest.mark.timeout(60)


def _strict(text: str) -> str:
    assert "\n[store]\n" in text
    return text.replace("\n[store]\n", '\n[store]\ndurability = "strict"\n', 1)


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
            r = await sc.client.post(path, json=body, headers=sc.auth)
            assert r.status_code == 200, r.text  # committed while the store works
            with contextlib.closing(sqlite3.connect(tmp_path / "arbiter.db")) as conn:
                conn.execute("ALTER TABLE decisions RENAME TO decisions_away")
                conn.commit()
            r = await sc.client.post(path, json=body, headers=sc.auth)
        # a 503 store_unavailable; Anthropic's API has no 503: its api_error 500
        assert r.status_code == (503 if path.startswith("/v1/chat") else 500), r.text
        assert r.json()["error"]["message"] == NOT_RECORDED_MESSAGE, r.text
        assert r.headers["x-should-retry"] == "true"
        assert "decisions" not in r.text.replace("decision store", "")
        assert "not recorded" in caplog.text and "no such table" in caplog.text  # the log's

    asyncio.run(main())
