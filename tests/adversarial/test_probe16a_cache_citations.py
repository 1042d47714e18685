"""Outside probe (sixteenth session): a request whose documents (or search results) have
`citations` enabled gets text blocks that carry citations (Anthropic's `citations_delta`
events, `citations` on the text block). The response cache stores the canonical answer, which
holds text only: the second identical request was a hit replayed without a single citation,
though the client asked for them and the first answer had them. Such a request now bypasses the
cache, streamed or not; the same request without citations is still cached (the control).
Driven by the official anthropic SDK against a real HTTP upstream (tests/anthropic_mock.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import anthropic_mock
from tests.adversarial.test_probe3_stream_dialects import with_mock
from tests.anthropic_mock import AnthropicMock, frame
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

CITATION = {
    "type": "char_location", "cited_text": "The grass is green.", "document_index": 0,
    "document_title": "facts", "start_char_index": 0, "end_char_index": 19,
}  # fmt: skip
USAGE = {"input_tokens": 30, "output_tokens": 9}


def _cited_stream(cited: bool = True) -> bytes:
    """The upstream's answer, its text block citing the document (or not: `cited` False)."""
    block: dict[str, Any] = {"type": "text", "text": "", **({"citations": []} if cited else {})}
    start = {"id": "msg_cite1", "type": "message", "role": "assistant", "model": "replay",
             "content": [], "stop_reason": None, "stop_sequence": None, "usage": USAGE}  # fmt: skip
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": block}),
        *([("content_block_delta", {"type": "content_block_delta", "index": 0,
                                    "delta": {"type": "citations_delta", "citation": CITATION}})]
          if cited else []),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "The grass is green."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 9},
                           "delta": {"stop_reason": "end_turn", "stop_sequence": None}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(frame(kind, data) for kind, data in events)


def _asking(citations: bool) -> list[Any]:
    document: dict[str, Any] = {
        "type": "document", "title": "facts",
        "source": {"type": "text", "media_type": "text/plain", "data": "The grass is green."},
    }  # fmt: skip
    if citations:
        document["citations"] = {"enabled": True}
    return [{"role": "user", "content": [document, {"type": "text", "text": "Grass colour?"}]}]


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        m.replay_body = _cited_stream()
        yield m


def test_an_answer_with_citations_is_never_replayed_from_the_cache_without_them(
    tmp_path: Path, mock: AnthropicMock
) -> None:
    edit = with_mock(mock, "anthropic", "replay")

    async def main() -> None:
        async with (
            sidecar_in_process(
                tmp_path, edit_config=lambda t: edit(t) + "\n[cache]\nenabled = true\n"
            ) as sc,
            sdks(sc) as (claude, _),
        ):

            async def ask(citations: bool) -> tuple[str, int]:
                seen = 0
                async with claude.messages.stream(
                    model="up-mock", max_tokens=64, messages=_asking(citations)
                ) as stream:
                    async for event in stream:
                        seen += event.type == "citation"
                    status = stream.response.headers["x-arbiter-cache"]
                await sc.services.cache.drain()
                return status, seen

            first, second = await ask(True), await ask(True)
            # before: ("miss", 1) then ("hit", 0), the citations gone from the replayed answer
            assert (first, second) == (("bypass", 1), ("bypass", 1)), (first, second)
            # the control: without citations asked for (nor given: since anth25 an answer
            # holding citations is never stored, asked for or not), the answer is cached
            mock.replay_body = _cited_stream(cited=False)
            try:
                assert [(await ask(False))[0], (await ask(False))[0]] == ["miss", "hit"]
            finally:
                mock.replay_body = _cited_stream()

    asyncio.run(main())
