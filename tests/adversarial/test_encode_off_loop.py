"""Encoding a big body for a model of the other protocol ran on the event loop: the decode and
the crossing check of a body over BIG_BODY_BYTES already ran in a worker thread
(surfaces/decode.py, test_mends18a_crossing_off_loop.py), but the call then encoded the
canonical request for the model's protocol (a walk of every message and part: ~0.2 s at
60,000 tiny messages) on the loop, a stall of every other request. A big body is now encoded
in a worker thread; a small one stays inline (cheaper than the hand-off), and a body in the
client's own protocol is never encoded. Checked by the thread each encoding runs on, and by a
timer on the loop that must keep ticking while a big body's encoding (slowed down by the spy)
runs, not by timing the encode."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from arbiter import upstream_body
from arbiter.surfaces.decode import BIG_BODY_BYTES
from tests.inproc import sidecar_in_process, uncapped_messages

pytestmark = pytest.mark.timeout(180)

SLOW_S = 0.4  # how long the spied encoding holds the thread it runs on (it sleeps)


def _wide(text: str) -> str:
    """The pool's models with a window that holds 60,000 turns (routing refuses a longer prompt)."""
    return uncapped_messages(text.replace("context_window = 32000", "context_window = 2000000"))


async def _tick(ticks: list[float]) -> None:
    """The loop's heartbeat while a request runs: a time every 10 ms, while the loop is free."""
    while True:
        ticks.append(time.perf_counter())
        await asyncio.sleep(0.01)


def _turns(n: int) -> list[dict[str, str]]:
    """`n` exchanges and a last question (an assistant turn last is a prefill)."""
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "a"} for i in range(2 * n + 1)
    ]


@pytest.mark.parametrize(
    ("path", "model", "encoder", "extra"),
    [
        # an Anthropic client's body to a model speaking OpenAI's protocol
        ("/v1/messages", "sim-small", "encode_openai", {"max_tokens": 5}),
        # an OpenAI client's body to the pool's model speaking Anthropic's
        ("/v1/chat/completions", "sim-medium", "encode_anthropic", {}),
    ],
)
def test_a_big_body_is_encoded_for_the_other_protocol_off_the_event_loop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    model: str,
    encoder: str,
    extra: dict[str, Any],
) -> None:
    threads: list[int] = []  # the thread of each encoding
    held: list[tuple[float, float]] = []  # when a big body's (slowed) encoding ran
    original = getattr(upstream_body, encoder)

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        if big[0]:  # a long encoding: the loop must not wait for it
            start = time.perf_counter()
            time.sleep(SLOW_S)
            held.append((start, time.perf_counter()))
        return original(*args, **kwargs)

    big = [False]
    monkeypatch.setattr(upstream_body, encoder, spy)

    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, anthropic_models=("sim-medium",), edit_config=_wide
        ) as sc:
            loop_thread = threading.get_ident()
            headers = {**sc.auth_for(path), "content-type": "application/json"}
            for n in (1, 30_000):
                threads.clear()
                raw = orjson.dumps({"model": model, "messages": _turns(n), **extra})
                big[0] = len(raw) > BIG_BODY_BYTES
                assert big[0] == (n > 1)
                ticks: list[float] = []

                ticker = asyncio.create_task(_tick(ticks))
                try:
                    r = await sc.client.post(path, content=raw, headers=headers)
                finally:
                    ticker.cancel()
                assert r.status_code == 200, r.text[:300]
                assert len(threads) == 1, threads  # one call, one encoding
                assert (threads[0] == loop_thread) == (n == 1), "where the encoding ran"
                if big[0]:  # the loop kept ticking through the slow encoding (~40 ticks)
                    start, end = held[-1]
                    during = [t for t in ticks if start < t < end]
                    assert len(during) >= 5, (len(during), "the loop stood still")

    asyncio.run(main())


def test_a_body_in_the_clients_own_protocol_is_not_encoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    for name in ("encode_openai", "encode_anthropic"):
        original = getattr(upstream_body, name)

        def spy(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
            encoded.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(upstream_body, name, spy)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_wide) as sc:
            raw = orjson.dumps({"model": "sim-small", "messages": _turns(30_000)})
            assert len(raw) > BIG_BODY_BYTES
            r = await sc.client.post(
                "/v1/chat/completions",
                content=raw,
                headers={**sc.auth, "content-type": "application/json"},
            )
            assert r.status_code == 200, r.text[:300]
            assert encoded == []

    asyncio.run(main())
