"""A whole /v1/completions answer that ends on a word meaning no finished answer (vLLM's
"abort", Mistral's "error", DeepSeek's "insufficient_system_resource") is an upstream failure,
as chat's is (test_mend18c_finish_words.py): a 502 in OpenAI's shape, tried again as any
upstream error, recorded failed with the failed calls at their worst case. Before, the legacy
endpoint relayed it as a 200 whose finish_reason no SDK names (its stream already failed).
Finished words, and none at all (null), still answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks

USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _completion(*finishes: str | None) -> dict[str, Any]:
    """A whole legacy completion with one choice per finish word."""
    choices = [
        {"index": i, "text": " there", "logprobs": None, "finish_reason": finish}
        for i, finish in enumerate(finishes)
    ]
    return {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
            "choices": choices, "usage": USAGE}  # fmt: skip


@pytest.mark.parametrize(
    "finishes",
    [("abort",), ("error",), ("insufficient_system_resource",), ("stop", "abort")],
    ids=["abort", "error", "insufficient", "second-choice-abort"],
)
def test_an_unfinished_completion_is_an_upstream_failure(
    tmp_path: Path, mock: AnthropicMock, finishes: tuple[str, ...]
) -> None:
    async def main() -> None:
        edit = _with_mock(mock, "openai", "openai-reply", model="oa-whole")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            mock.openai_reply = _completion(*finishes)
            mock.requests.clear()
            with pytest.raises(openai.APIStatusError) as info:
                await gpt.completions.create(
                    model="oa-whole", prompt="Say hi.", max_tokens=5, n=len(finishes)
                )
            assert info.value.status_code == 502, info.value
            body = info.value.body
            assert isinstance(body, dict) and "no finished answer" in body["message"], body
            assert len(mock.requests) == 2, len(mock.requests)  # retried, as any upstream error
            decision = info.value.response.headers["x-arbiter-decision-id"]
            record = await recorded_decision(sc, decision)  # waits on the recorder's flush
            assert record["status"] == "failed", record
            tries = [(a["model"], a["ok"], a["error"]) for a in record["attempts"]]
            assert tries == [("oa-whole", False, "upstream_error")] * 2, tries
            assert record["cost_usd"] > 0, record  # each failed call at its worst case

    asyncio.run(main())


def test_finished_completions_still_answer(tmp_path: Path, mock: AnthropicMock) -> None:
    async def main() -> None:
        edit = _with_mock(mock, "openai", "openai-reply", model="oa-whole")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (_, gpt):
            for finish in ("stop", "length", "eos", None):
                mock.openai_reply = _completion(finish)
                mock.requests.clear()
                answer = await gpt.completions.create(
                    model="oa-whole", prompt="Say hi.", max_tokens=5
                )
                assert answer.choices[0].text == " there", (finish, answer)
                assert len(mock.requests) == 1, finish

    asyncio.run(main())
