"""Outside probe (ninth session): `input_file` parts on /v1/responses, answered by an
OpenAI-protocol model (the request goes upstream as Chat Completions).

- In a message, the Responses part went into the Chat Completions body as it came
  (`{"type": "input_file", "file_id": ...}`), a part type Chat Completions does not have:
  OpenAI refuses it (a 400 after routing), a server that does not check never showed the model
  the file. It is now Chat Completions' file part (`{"type": "file", "file": {...}}`); a
  `file_url`, which that part cannot hold, is the caller's 400 naming it.
- In a `function_call_output`, the file was dropped without a word (only text and images were
  kept): the model answered without it. It now follows the `tool` message with the result's
  images, in a user message."""

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
from tests.sdk_clients import sdks, sim_requests
from tests.test_signals_choices import completion, text

PDF = "data:application/pdf;base64,JVBERi0xLjQK"
BY_ID = {"type": "input_file", "file_id": "file-abc123"}
INLINE = {"type": "input_file", "filename": "report.pdf", "file_data": PDF}
CHAT_BY_ID = {"type": "file", "file": {"file_id": "file-abc123"}}
CHAT_INLINE = {"type": "file", "file": {"filename": "report.pdf", "file_data": PDF}}
TOOLS: Any = [{"type": "function", "name": "fetch_report", "parameters": {"type": "object"}}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def test_input_files_reach_an_openai_model_as_chat_file_parts(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    mock.openai_reply = completion(text("It is a report."))

    async def main() -> None:
        edit = with_mock(mock, "openai", "openai-reply")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            await gpt.responses.create(
                model="up-mock",
                input=[{"role": "user", "content": [
                    {"type": "input_text", "text": "What are these?"}, BY_ID, INLINE,
                ]}],
            )  # fmt: skip
            [user] = mock.requests[-1][1]["messages"]
            assert user["content"][1:] == [CHAT_BY_ID, CHAT_INLINE], user

            await gpt.responses.create(
                model="up-mock",
                tools=TOOLS,
                input=[
                    {"role": "user", "content": "Summarize the report."},
                    {"type": "function_call", "call_id": "c1", "name": "fetch_report",
                     "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": [
                        {"type": "input_text", "text": "attached"}, INLINE,
                    ]},
                ],
            )  # fmt: skip
            sent = mock.requests[-1][1]["messages"]
            assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"], sent
            assert sent[2]["content"] == "attached"
            assert CHAT_INLINE in sent[3]["content"], sent

    asyncio.run(main())


def test_a_file_url_is_a_400_naming_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            before = await sim_requests(sc)
            part = {"type": "input_file", "file_url": "https://example.com/report.pdf"}
            r = await sc.client.post(
                "/v1/responses",
                json={"model": "sim-small", "input": [{"role": "user", "content": [part]}]},
                headers=sc.auth,
            )
            assert r.status_code == 400, r.text
            assert r.json()["error"]["param"] == "input[0].content[0].file_url", r.text
            assert await sim_requests(sc) == before

    asyncio.run(main())
