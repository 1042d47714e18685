"""A route called with a trailing slash (`POST /v1/chat/completions/`) answered a 307 redirect,
which the SDKs do not follow for a POST (httpx follows none by default): the caller got an
error about a redirect instead of an answer. Every route is now served with and without the
slash, as the dashboard already was (`/arbiter/ui` and `/arbiter/ui/`); nothing redirects."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anthropic
import openai
import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

pytestmark = pytest.mark.timeout(60)
USER = [{"role": "user", "content": "Say hi."}]


def test_every_surface_answers_with_a_trailing_slash(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=("sim-small",)) as sc,
            sdks(sc) as (claude, gpt),
        ):
            chat = await gpt.post(
                "/chat/completions/",
                body={"model": "auto", "messages": USER},
                cast_to=ChatCompletion,
            )
            assert chat.choices[0].message.content
            answer = await gpt.post(
                "/responses/", body={"model": "auto", "input": "Say hi."}, cast_to=Response
            )
            assert answer.output_text
            message = await claude.post(
                "/v1/messages/",
                body={"model": "sim-small", "max_tokens": 20, "messages": USER},
                cast_to=Message,
            )
            assert message.content
            models = await sc.client.get("/v1/models/", headers=sc.auth)
            assert models.status_code == 200 and models.json()["data"]
            # an unknown path with a slash is still the surface's clear 404, not a redirect
            with pytest.raises(openai.NotFoundError):
                await gpt.post("/chat/nothing/", body={}, cast_to=ChatCompletion)
            with pytest.raises(anthropic.NotFoundError):
                await claude.post("/v1/nothing/", body={}, cast_to=Message)

    asyncio.run(main())
