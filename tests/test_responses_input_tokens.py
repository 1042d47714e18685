"""POST /v1/responses/input_tokens (the openai SDK's `responses.input_tokens.count`), the
Responses API's counterpart of Anthropic's /v1/messages/count_tokens: counted here with the
same code (worst_case.py, the budget tokenizer), no upstream asked, in OpenAI's shape
(`{"object": "response.input_tokens", "input_tokens": n}`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests

JOKE = "Tell me a joke about routers and the packets they forward."
TOOL = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up in the dictionary.",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}},
}


def test_input_tokens_count_as_messages_count_tokens_does(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, gpt):
            before = await sim_requests(sc)
            counted = await gpt.responses.input_tokens.count(model="sim-small", input=JOKE)
            assert counted.object == "response.input_tokens"
            anthropic_count = await claude.messages.count_tokens(
                model="sim-small", messages=[{"role": "user", "content": JOKE}]
            )
            assert counted.input_tokens == anthropic_count.input_tokens > 0
            # instructions and tools are part of the prompt; no model named: `auto`
            fuller = await gpt.responses.input_tokens.count(
                input=JOKE,
                instructions="Answer in one line.",
                tools=[TOOL],  # type: ignore[list-item]
            )
            assert fuller.input_tokens > counted.input_tokens
            assert await sim_requests(sc) == before  # no upstream was asked

    asyncio.run(main())


def test_input_tokens_errors_are_openais(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            with pytest.raises(openai.NotFoundError) as unknown:
                await gpt.responses.input_tokens.count(model="no-such-model", input=JOKE)
            assert unknown.value.code == "model_not_found"
            with pytest.raises(openai.BadRequestError) as bad:
                await gpt.responses.input_tokens.count(
                    model="sim-small",
                    input=[{"type": "no_such_item"}],  # type: ignore[list-item]
                )
            assert bad.value.param == "input[0].type"

    asyncio.run(main())


def test_input_is_optional_as_in_openais_spec(tmp_path: Path) -> None:
    """TokenCountsBody (the OpenAPI spec) requires no field: instructions or tools alone are
    counted; no input at all is no prompt. It was a 400 naming `input`."""

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            nothing = await gpt.responses.input_tokens.count(model="sim-small")
            told = await gpt.responses.input_tokens.count(
                model="sim-small", instructions="Answer in one line."
            )
            with_tools = await gpt.responses.input_tokens.count(
                instructions="Answer in one line.",
                tools=[TOOL],  # type: ignore[list-item]
            )
            assert nothing.input_tokens < told.input_tokens < with_tools.input_tokens
            empty = await gpt.responses.input_tokens.count(model="sim-small", input=[])
            assert empty.input_tokens == nothing.input_tokens
            system_only = await gpt.responses.input_tokens.count(
                model="sim-small",
                input=[{"role": "developer", "content": "Answer in one line."}],
            )
            assert system_only.input_tokens == told.input_tokens

    asyncio.run(main())


def test_an_image_is_counted_by_its_detail_and_size_where_known(tmp_path: Path) -> None:
    """sim-small prices images as GPT-4o (85 + 170 a tile, 1,445 at most): a low-detail image
    counts 85 whatever its size, a 512 x 512 inline one 255, a linked one (size unknown) the
    ceiling. Each was counted at the ceiling."""
    import base64
    import struct

    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 512, 512)
    png = "data:image/png;base64," + base64.b64encode(head + b"\x08\x06\x00\x00\x00" * 8).decode()

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):

            async def share(image: dict[str, str]) -> int:
                text = {"type": "input_text", "text": JOKE}
                counts = [
                    await gpt.responses.input_tokens.count(
                        model="sim-small",
                        input=[{"role": "user", "content": content}],  # type: ignore[list-item,misc]
                    )
                    for content in ([text, image], [text])
                ]
                return counts[0].input_tokens - counts[1].input_tokens

            linked = "https://example.com/cat.png"
            low = {"type": "input_image", "image_url": linked, "detail": "low"}
            assert await share(low) == 85
            assert await share({"type": "input_image", "image_url": png, "detail": "auto"}) == 255
            ceiling = {"type": "input_image", "image_url": linked, "detail": "auto"}
            assert await share(ceiling) == 1_445

    asyncio.run(main())
