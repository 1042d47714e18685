"""Outside probe (ninth session): an image from Anthropic's Files API
(`{"type": "image", "source": {"type": "file", "file_id": ...}}`: the SDK's ImageBlockParam
takes a FileImageSourceParam; sent with `betas=["files-api-2025-04-14"]`, which the sidecar
passes on to Anthropic upstreams) was a 400
"source.type: Input should be 'base64' or 'url'", in words that read as Anthropic's own, so a
client using the Files API could not reach a Claude model through the sidecar at all (a
`document` block with a file source was already let through). It is now kept as it came for
an Anthropic model, counts as an image when routing (vision), and an OpenAI-protocol model,
which cannot fetch Anthropic's files, is ineligible (a 400 naming it when pinned)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe3_stream_dialects import with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

FILE_IMAGE = {
    "type": "image",
    "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"},
}
BETA = "files-api-2025-04-14"


def _asking(model: str) -> dict[str, Any]:
    content = [{"type": "text", "text": "What is in this picture?"}, FILE_IMAGE]
    return {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": content}]}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_a_files_api_image_reaches_a_claude_model_as_it_came(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    async def main() -> None:
        edit = with_mock(mock, "anthropic", "text")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            answer = await claude.beta.messages.create(betas=[BETA], **_asking("up-mock"))
            assert answer.content
            headers, body = mock.requests[-1]
            assert body["messages"][0]["content"][1] == FILE_IMAGE
            assert BETA in headers.get("anthropic-beta", "")

            # an OpenAI-protocol model cannot fetch it: refused by name, before any call
            r = await sc.client.post(
                "/v1/messages", json=_asking("sim-small"), headers=sc.anthropic
            )
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert "image file" in message, message
            # routed: it needs a vision model, as any image does (the demo pool has none)
            r = await sc.client.post("/v1/messages", json=_asking("auto"), headers=sc.anthropic)
            assert "vision" in check_anthropic_error(r, 400, "invalid_request_error")

    asyncio.run(main())
