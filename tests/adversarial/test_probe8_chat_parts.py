"""Outside probe (eighth session): the OpenAI surface took malformed content parts that its
Anthropic surface refuses: a text part without text (or with a number), an image part without
its url, a part without a type, an empty parts array. Each was routed, forwarded and billed as
a prompt of nothing. Now each is a 400 naming the part, in OpenAI's shape, before any upstream
call; a part type the surface does not know (vLLM's video_url) still passes to a named model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

# (parts, the param named after messages[0].content)
BAD: list[tuple[list[Any], str]] = [
    ([{"type": "text"}], "[0].text"),
    ([{"type": "text", "text": 5}], "[0].text"),
    ([{"text": "hi"}], "[0].type"),
    ([{"type": "text", "text": "hi"}, {"type": ""}], "[1].type"),
    ([{"type": "image_url"}], "[0].image_url"),
    ([{"type": "image_url", "image_url": "http://x/a.png"}], "[0].image_url"),
    ([{"type": "image_url", "image_url": {"detail": "low"}}], "[0].image_url.url"),
    ([{"type": "input_audio", "input_audio": {"data": "AAAA"}}], "[0].input_audio.format"),
    ([{"type": "file", "file": "a.pdf"}], "[0].file"),
    ([], ""),
]  # fmt: skip


@pytest.mark.parametrize("model", ["auto", "sim-small"])
def test_malformed_parts_are_a_400_naming_the_part_before_any_call(
    tmp_path: Path, model: str
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            for content, param in BAD:
                with pytest.raises(openai.BadRequestError) as caught:
                    await gpt.chat.completions.create(
                        model=model,
                        messages=[{"role": "user", "content": content}],  # type: ignore[misc, list-item]
                    )
                body: Any = caught.value.body
                assert body["param"] == "messages[0].content" + param, (content, body)
                assert body["type"] == "invalid_request_error"
            assert sc.sim.state.stats_json()["total_requests"] == 0

    asyncio.run(main())


def test_well_formed_and_unknown_part_types_still_pass(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            parts: list[Any] = [
                {"type": "text", "text": "Say hello."},
                {"type": "video_url", "video_url": {"url": "https://media.example.com/v.mp4"}},
            ]
            answer = await gpt.chat.completions.create(
                model="sim-small",
                messages=[{"role": "user", "content": parts}],
            )
            assert answer.choices[0].message.content
            # an assistant turn may carry an empty parts array (its tool calls say it all)
            answer = await gpt.chat.completions.create(
                model="auto",
                messages=[
                    {"role": "user", "content": [{"type": "text", "text": "Hi."}]},
                    {"role": "assistant", "content": []},
                    {"role": "user", "content": "Say hello."},
                ],
            )
            assert answer.choices[0].message.content

    asyncio.run(main())


def test_a_responses_user_turn_of_no_parts_is_a_400_before_any_call(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            with pytest.raises(openai.BadRequestError) as caught:
                await gpt.responses.create(model="auto", input=[{"role": "user", "content": []}])
            body: Any = caught.value.body
            assert body["param"] == "input[0].content"
            assert sc.sim.state.stats_json()["total_requests"] == 0

    asyncio.run(main())
