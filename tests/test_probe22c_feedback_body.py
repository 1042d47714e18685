"""probe22c: /v1/feedback's body is read as strictly as the admin writes'.

Before: a field the endpoint does not read (`comment`, a misspelt `scroe`) was dropped in silence
(200: a caller's comment looked kept, a misspelt score was never read and, with `thumbs` beside
it, the grade came from the thumbs alone), and a body with both `score` and `thumbs` that
disagree (`thumbs: "up"`, `score: 0`) was graded 0 without a word. Now each is a 400 naming the
field, and nothing is graded; one signal alone (the controls) is graded as before."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.inproc import InProcess, sidecar_in_process

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "What is 2+2?"}]}
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"score": 1, "comment": "great answer"}, "comment"),
    ({"thumbs": "up", "scroe": 0.2}, "scroe"),
    ({"score": 0, "thumbs": "up"}, "thumbs"),
    ({"score": 1, "rating": "down"}, "rating"),
    ({"thumbs": "up", "rating": "down"}, "rating"),
]


@pytest.mark.timeout(120)
def test_feedback_with_a_field_it_does_not_read_or_two_signals_is_a_400(tmp_path: Path) -> None:
    async def body(sc: InProcess) -> None:
        r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
        assert r.status_code == 200, r.text
        did = r.headers["x-arbiter-decision-id"]
        for extra, name in REFUSED:
            fb = await sc.client.post(
                "/v1/feedback", json={"decision_id": did, **extra}, headers=sc.auth
            )
            assert fb.status_code == 400, (extra, fb.text)
            err = fb.json()["error"]
            assert err["param"] == name and err["code"] == "invalid_request", (extra, err)
        await asyncio.to_thread(sc.services.recorder.flush, 2.0)
        row = (await sc.client.get(f"/arbiter/decisions/{did}", headers=sc.auth)).json()
        assert row["grader"] != "feedback", row  # none of them was taken as a grade
        for signal, grade in (({"thumbs": "down"}, 0.0), ({"score": 0.75}, 0.75)):  # controls
            fb = await sc.client.post(
                "/v1/feedback", json={"decision_id": did, **signal}, headers=sc.auth
            )
            assert fb.status_code == 200 and fb.json()["score"] == grade, fb.text

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            await body(sc)

    asyncio.run(main())
