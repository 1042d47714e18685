"""An OpenAI-compatible answer that ends on a word meaning no finished answer (vLLM's "abort",
Mistral's "error", DeepSeek's "insufficient_system_resource") is
an upstream failure, whichever surface asked: a 502 in the surface's shape, tried again like
any upstream error, the failed calls charged at their worst case (budget.py's policy for a
failed attempt that may have been billed). Before, an Anthropic client got it unstreamed as a
finished answer with `stop_reason: null`, an OpenAI client as a 200 (streamed too) whose
finish_reason no SDK names; a streamed Anthropic client already got a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.e2e.test_probe18a_finish_words import openai_reply, openai_stream
from tests.inproc import recorded_decision, sidecar_in_process
from tests.sdk_clients import sdks

QUESTION = [{"role": "user", "content": "Say hi."}]
WORDS = ["abort", "error", "insufficient_system_resource"]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def _two_models(mock: AnthropicMock) -> Callable[[str], str]:
    whole = _with_mock(mock, "openai", "openai-reply", model="oa-whole")

    def edit(text: str) -> str:  # a second model on the same upstream: streamed answers
        return whole(text) + (
            '[models.oa-streamed]\nupstream = "mockup"\nupstream_model = "replay"\n'
            "price_in_per_mtok = 1.0\nprice_out_per_mtok = 2.0\ncontext_window = 32000\n"
            'capabilities = ["chat", "no-route"]\n'
        )

    return edit


@pytest.mark.parametrize("word", WORDS)
def test_an_unfinished_answer_is_an_upstream_failure_on_both_surfaces(
    tmp_path: Path, mock: AnthropicMock, word: str | None
) -> None:
    async def main() -> None:
        edit = _two_models(mock)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            mock.openai_reply = openai_reply(word)
            mock.requests.clear()
            with pytest.raises(anthropic.APIStatusError) as a_info:
                await claude.messages.create(model="oa-whole", max_tokens=20, messages=QUESTION)
            assert a_info.value.status_code == 502, (word, a_info.value)
            a_body = a_info.value.body
            assert isinstance(a_body, dict) and a_body["error"]["type"] == "api_error", a_body
            assert "no finished answer" in a_body["error"]["message"], a_body
            # failover tried it again, as any upstream error (retries_per_model = 1)
            assert len(mock.requests) == 2, (word, len(mock.requests))
            with pytest.raises(openai.APIStatusError) as o_info:
                await gpt.chat.completions.create(model="oa-whole", messages=QUESTION)
            assert o_info.value.status_code == 502, (word, o_info.value)
            assert "no finished answer" in str(o_info.value), o_info.value
            decision = o_info.value.response.headers["x-arbiter-decision-id"]
            record = await recorded_decision(sc, decision)  # waits on the recorder's flush
            assert record["status"] == "failed", record
            tries = [(a["model"], a["ok"], a["error"]) for a in record["attempts"]]
            assert tries == [("oa-whole", False, "upstream_error")] * 2, tries
            assert record["cost_usd"] > 0, record  # each failed call at its worst case

    asyncio.run(main())


@pytest.mark.parametrize("word", ["abort", "error", "insufficient_system_resource"])
def test_an_unfinished_stream_fails_on_both_surfaces(
    tmp_path: Path, mock: AnthropicMock, word: str
) -> None:
    async def main() -> None:
        edit = _two_models(mock)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            mock.replay_body = openai_stream(word)
            stream = await gpt.chat.completions.create(
                model="oa-streamed", messages=QUESTION, stream=True
            )
            finishes: list[str | None] = []
            with pytest.raises(openai.APIError) as info:
                async for chunk in stream:
                    finishes += [c.finish_reason for c in chunk.choices]
            assert "no finished answer" in str(info.value), info.value
            assert word not in finishes, finishes  # the word itself never reached the client
            with pytest.raises(anthropic.APIStatusError):
                async with claude.messages.stream(
                    model="oa-streamed", max_tokens=20, messages=QUESTION
                ) as s:
                    await s.get_final_message()

            mock.replay_body = openai_stream(
                "eos"
            )  # a word that means a finished answer still does
            stream = await gpt.chat.completions.create(
                model="oa-streamed", messages=QUESTION, stream=True
            )
            assert [c.finish_reason async for chunk in stream for c in chunk.choices][-1] == "eos"

    asyncio.run(main())


def test_an_answer_without_a_finish_reason_is_relayed_not_failed(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    """A whole answer whose server left `finish_reason` out (null) is no failure: lenient
    compatible servers do so; it goes to both surfaces as it came, as before mends18c."""

    async def main() -> None:
        edit = _two_models(mock)
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc, sdks(sc) as (claude, gpt):
            mock.openai_reply = openai_reply(None)
            mock.requests.clear()
            answer = await claude.messages.create(
                model="oa-whole", max_tokens=20, messages=QUESTION
            )
            assert answer.content[0].text == "Hi there" and answer.stop_reason is None, answer  # type: ignore[union-attr]
            done = await gpt.chat.completions.create(model="oa-whole", messages=QUESTION)
            assert done.choices[0].message.content == "Hi there", done
            assert len(mock.requests) == 2  # one call each: nothing failed over

    asyncio.run(main())
