"""A /v1/messages body of 100,000 tiny messages held the event loop ~0.43 s (mends18a, from the
sixteenth session's notes): the decode already ran in a worker thread (surfaces/decode.py), but
routing then asked `compat.untranslatable` whether the request crosses to OpenAI once for every
OpenAI model in the pool, each a walk of every message and part (~0.1 s at 100,000), on the
loop. It is now worked out once per request and protocol (`upstream_body._crossing`),
and for a big body in the decode's worker thread (`precompute_crossing`), so the loop reads the
answer. Checked by where the walk runs and how often, not by timing it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter import upstream_body
from arbiter.surfaces.decode import BIG_BODY_BYTES
from tests.inproc import sidecar_in_process, uncapped_messages

pytestmark = pytest.mark.timeout(120)


def _turns(n: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "a"} for i in range(n + 1)]


@pytest.mark.parametrize(
    ("path", "key", "extra"),
    [
        ("/v1/messages", "messages", {"max_tokens": 5}),  # crosses to the pool's OpenAI models
        ("/v1/chat/completions", "messages", {}),  # crosses to its Anthropic model
    ],
)
def test_the_crossing_walk_of_a_big_body_runs_once_and_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str, key: str, extra: dict[str, Any]
) -> None:
    walks: list[int] = []  # the thread of each compat.blocker() walk
    original = upstream_body.blocker

    def spy(*args: Any) -> Any:
        walks.append(threading.get_ident())
        return original(*args)

    monkeypatch.setattr(upstream_body, "blocker", spy)

    async def main() -> None:
        # the demo pool speaks OpenAI; one model speaks Anthropic, so both surfaces cross
        async with sidecar_in_process(
            tmp_path, anthropic_models=("sim-medium",), edit_config=uncapped_messages
        ) as sc:
            loop_thread = threading.get_ident()
            headers = {**sc.auth_for(path), "content-type": "application/json"}
            for n in (1, 60_000):
                walks.clear()
                raw = orjson.dumps({"model": "auto", key: _turns(n), **extra})
                assert (len(raw) > BIG_BODY_BYTES) == (n > 1)
                r = await sc.client.post(path, content=raw, headers=headers)
                assert r.status_code < 500, r.text
                # once per request (the other protocol), whatever the pool's size
                assert len(walks) == 1, len(walks)
                on_loop = walks[0] == loop_thread
                assert on_loop == (n == 1), "a big body's walk ran on the event loop"

    asyncio.run(main())
