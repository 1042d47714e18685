"""Outside probe (tenth session): an Anthropic Files API reference (`source.type: "file"`)
inside a `tool_result` was a 400 ("a tool_result holds text and image blocks") although the
same block at the top level of a user turn goes to Claude models: a tool that returns an
uploaded file's id could not be answered through the sidecar at all. A Files API image, a
document and a search result are now kept inside a tool_result for an Anthropic-protocol model;
an OpenAI-protocol model, which cannot fetch Anthropic's files, is ineligible, and named in the
400 when no model can take the request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe3_stream_dialects import with_mock
from tests.adversarial.test_probe5_image_data import _vision
from tests.adversarial.test_probe9_file_images import BETA, FILE_IMAGE
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process
from tests.sdk_clients import check_anthropic_error, sdks

FILE_DOCUMENT = {"type": "document", "source": {"type": "file", "file_id": "file_011CPdf"}}


def _with_pdf(text: str) -> str:
    """_vision's pool, every model able to read a PDF too (a Files API document needs `pdf`)."""
    return _vision(text).replace('"tools", "vision"]', '"tools", "vision", "pdf"]')


TOOLS: Any = [{"name": "fetch", "input_schema": {"type": "object"}}]


def asking(model: str, *blocks: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 64,
        "tools": TOOLS,
        "messages": [
            {"role": "user", "content": "What does the file show?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "fetch", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": [{"type": "text", "text": "fetched"}, *blocks]},
            ]},
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_a_files_api_block_in_a_tool_result_reaches_a_claude_model(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    async def main() -> None:
        edit = with_mock(mock, "anthropic", "text")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, _):
            for block in (FILE_IMAGE, FILE_DOCUMENT):
                answer = await claude.beta.messages.create(betas=[BETA], **asking("up-mock", block))
                assert answer.content
                headers, body = mock.requests[-1]
                result = body["messages"][2]["content"][0]
                assert result["content"] == [{"type": "text", "text": "fetched"}, block], result
                assert BETA in headers.get("anthropic-beta", "")
                counted = {k: v for k, v in asking("up-mock", block).items() if k != "max_tokens"}
                r = await sc.client.post(
                    "/v1/messages/count_tokens", json=counted, headers=sc.anthropic
                )
                assert r.status_code == 200, r.text

            # an OpenAI-protocol model cannot fetch it: refused by name, before any call
            sent = len(mock.requests)
            r = await sc.client.post(
                "/v1/messages", json=asking("sim-small", FILE_IMAGE), headers=sc.anthropic
            )
            message = check_anthropic_error(r, 400, "invalid_request_error")
            assert "sim-small" in message and "image file content inside a tool_result" in message
            assert len(mock.requests) == sent

            # a thinking block is still no tool result's content
            thinking = {"type": "thinking", "thinking": "x", "signature": "s"}
            r = await sc.client.post(
                "/v1/messages", json=asking("up-mock", thinking), headers=sc.anthropic
            )
            assert "content.1.type" in check_anthropic_error(r, 400, "invalid_request_error")

    asyncio.run(main())


def test_routed_it_goes_to_the_anthropic_model_and_no_other(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(
            tmp_path, edit_config=_vision, anthropic_models=("sim-medium",)
        ) as sc:
            r = await sc.client.post(
                "/v1/messages", json=asking("auto", FILE_IMAGE), headers=sc.anthropic
            )
            assert r.status_code == 200, r.text
            assert r.headers["x-arbiter-model"] == "sim-medium"

        # the OpenAI models read PDFs too: what keeps the document from them is their protocol
        async with sidecar_in_process(tmp_path / "openai-only", edit_config=_with_pdf) as sc:
            r = await sc.client.post(
                "/v1/messages", json=asking("auto", FILE_DOCUMENT), headers=sc.anthropic
            )
            message = check_anthropic_error(r, 400, "invalid_request_error")
            for model in ("sim-tiny", "sim-small", "sim-medium", "sim-premium"):
                assert f"{model}: openai API cannot carry document content" in message, message

    asyncio.run(main())
