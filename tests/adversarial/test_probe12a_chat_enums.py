"""Outside probe (twelfth session): /v1/chat/completions fields forwarded to the OpenAI model as
they came, unchecked: `reasoning_effort` that is not a string (`5`), `verbosity` outside the
spec's low / medium / high, `modalities` naming something other than text or audio. OpenAI
answers each with a 400 after the call was routed and its worst case reserved (a failed
attempt). Each is now the caller's 400 naming the field, before any upstream call, as the other
forwarded fields already were (openai_params); the spec's values still answer. The effort's
values are only typed: OpenAI keeps adding efforts (none, xhigh, max)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]
BAD: list[tuple[str, Any]] = [
    ("reasoning_effort", 5),
    ("reasoning_effort", {"effort": "low"}),
    ("verbosity", "loud"),
    ("verbosity", 2),
    ("modalities", ["smell"]),
    ("modalities", "text"),
    ("modalities", [1]),
]
GOOD: list[tuple[str, Any]] = [
    ("reasoning_effort", "low"),
    ("verbosity", "high"),
    ("modalities", ["text"]),
]


def test_a_value_the_spec_forbids_is_a_400_before_any_call(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for field, value in BAD:
                for model in ("sim-small", "auto"):
                    with pytest.raises(openai.BadRequestError) as info:
                        await gpt.chat.completions.create(
                            model=model, messages=MESSAGES, extra_body={field: value}
                        )
                    assert info.value.param == field, (field, value, info.value.body)
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            for field, value in GOOD:
                answer = await gpt.chat.completions.create(
                    model="sim-small", messages=MESSAGES, extra_body={field: value}
                )
                assert answer.choices[0].message.content, (field, answer)

    asyncio.run(main())
