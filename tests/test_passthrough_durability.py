"""A streamed pass-through completion under `store.durability = "strict"` whose decision cannot
be committed (the decisions table renamed away while the sidecar runs): like a chat stream
(relay.py), it must end with the error event, never [DONE], so the openai SDK raises instead of
handing back an answer the store never acknowledged. The pass-through relay was a copy of chat's
loop without that step and ended such a stream as a success; both now run relay.forward."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

GPT = "sim-small"


def _strict(text: str) -> str:
    assert "\n[store]\n" in text
    # the decisions table stays away: the stop's last writes cannot land, so it need not wait
    # store.shutdown_write_s's default 10 s for them
    strict = '\n[store]\ndurability = "strict"\nshutdown_write_s = 0.2\n'
    return text.replace("\n[store]\n", strict, 1)


def _decisions_away(db: Path) -> None:
    """Every decision commit fails from now on (the store itself stays up)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("ALTER TABLE decisions RENAME TO decisions_away")
        conn.commit()


def test_a_strict_pass_through_stream_that_cannot_be_recorded_ends_with_an_error(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_strict) as sc, sdks(sc) as (_, gpt):
            # committed while the store works: the stream ends well
            stream = await gpt.completions.create(
                model=GPT, prompt="Once upon a time", max_tokens=20, stream=True
            )
            assert "".join([c.choices[0].text async for c in stream if c.choices])
            _decisions_away(tmp_path / "arbiter.db")
            for _ in range(2):  # the pass-through stream, then chat's (the same relay loop)
                with pytest.raises(openai.APIError) as info:
                    if _ == 0:
                        stream = await gpt.completions.create(
                            model=GPT, prompt="Once upon a time", max_tokens=20, stream=True
                        )
                        [c async for c in stream]
                    else:
                        chat = await gpt.chat.completions.create(
                            model=GPT, messages=[{"role": "user", "content": "hi"}], stream=True
                        )
                        [c async for c in chat]
                assert "could not be recorded" in info.value.message, info.value

    asyncio.run(main())
