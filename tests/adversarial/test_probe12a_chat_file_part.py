"""Outside probe (twelfth session): a chat `file` content part that names no file (`{}`, or only
a `filename`) was forwarded as it came: OpenAI answers 400 after the call was routed and its
worst case reserved, and the budget counted it as an unseen one-page document. The Responses
API's `input_file` already refused the same part. It is now the caller's 400 naming the part,
before any upstream call; a part with `file_id` or `file_data` still answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks, sim_requests


def _messages(file: dict[str, Any]) -> Any:
    parts = [{"type": "text", "text": "Summarize this."}, {"type": "file", "file": file}]
    return [{"role": "user", "content": parts}]


def _reads_pdf(text: str) -> str:
    """The demo pool, its models able to read PDFs (a `file` part needs `pdf`)."""
    return text.replace('"json-schema", "tools"]', '"json-schema", "tools", "pdf"]')


def test_a_file_part_naming_no_file_is_a_400_before_any_call(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=_reads_pdf) as sc, sdks(sc) as (_, gpt):
            before = await sim_requests(sc)
            for file in ({}, {"filename": "report.pdf"}, {"file_id": 5}):
                with pytest.raises(openai.BadRequestError) as info:
                    await gpt.chat.completions.create(model="auto", messages=_messages(file))
                assert info.value.param is not None, info.value.body
                assert info.value.param.startswith("messages[0].content[1].file"), info.value.body
            assert await sim_requests(sc) == before, "nothing reached an upstream"
            for file in (
                {"file_id": "file-abc"},
                {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
            ):
                answer = await gpt.chat.completions.create(model="auto", messages=_messages(file))
                assert answer.choices[0].message.content, answer

    asyncio.run(main())
