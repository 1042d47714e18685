"""Anthropic blocks OpenAI has no counterpart for (a PDF or text `document`, a `search_result`,
the current turn's `thinking`, a Files API reference) were left out of `prompt_tokens`, which
routing's context check reads: a request whose documents overflow a model's window went to it
(named) or was routed to it (`auto`), where a long text prompt is refused or routed elsewhere.
count_tokens counted a PDF as its base64 text. Now one function (block_tokens.of_block) counts
them for routing, budgets and count_tokens alike; a PDF by its pages (Anthropic: 1,500-3,000
tokens a page)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest

from arbiter import block_tokens, media
from arbiter.surfaces.anthropic_messages import parse_messages_request
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks

ANTHROPIC = ("sim-small", "sim-premium")  # documents go only to models that speak Anthropic
PAGES = 40  # 40 x 2,250 = 90,000 tokens: over the demo pool's 32,000-token windows


def pdf(pages: int) -> str:
    """A minimal PDF's base64 with `pages` page objects (and its /Pages root)."""
    objs = b"".join(b"%d 0 obj << /Type /Page /Parent 1 0 R >> endobj\n" % (i + 2)
                    for i in range(pages))  # fmt: skip
    root = b"1 0 obj << /Type /Pages /Count %d >> endobj\n" % pages
    raw = b"%PDF-1.4\n" + root + objs + b"%%EOF\n"
    return base64.b64encode(raw).decode()


PDF_SOURCE = {"type": "base64", "media_type": "application/pdf", "data": pdf(PAGES)}
PDF_DOC = {"type": "document", "source": PDF_SOURCE}
TEXT_DOC = {"type": "document", "source": {
    "type": "text", "media_type": "text/plain", "data": "The quick brown fox jumps. " * 12_000,
}}  # fmt: skip
SEARCH = {"type": "search_result", "source": "https://example.com/a", "title": "A",
          "content": [{"type": "text", "text": "Paragraph of found text. " * 12_000}]}  # fmt: skip


def ask(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": "Summarize."}]}]


def wide_small(text: str) -> str:
    """sim-small gets a 1M-token window: the one model a long document fits (quality alone
    routes this prompt to sim-premium)."""
    at = text.index("[models.sim-small]\n")
    return text[:at] + text[at:].replace("context_window = 32000", "context_window = 1000000", 1)


def test_pdf_pages_are_counted_from_page_objects_else_from_size() -> None:
    assert media.pdf_pages(pdf(PAGES)) == PAGES
    packed = base64.b64encode(b"%PDF-1.7\n" + b"\0" * (250_000 - 9)).decode()  # object streams
    assert media.pdf_pages(packed) == 10  # 250 KB at 25 KB a page
    count = block_tokens.of_block("document", PDF_DOC)
    assert count.tokens == PAGES * media.PDF_TOKENS_PER_PAGE


@pytest.mark.parametrize("block", [PDF_DOC, TEXT_DOC, SEARCH], ids=["pdf", "text", "search"])
def test_routing_counts_documents_and_search_results(block: dict[str, Any]) -> None:
    body = {"model": "auto", "max_tokens": 64, "messages": ask(block)}
    req = parse_messages_request(orjson.dumps(body))
    assert req.prompt_tokens > 32_000
    plain = parse_messages_request(orjson.dumps({**body, "messages": ask()}))
    assert plain.prompt_tokens < 100


def test_routing_counts_the_current_turns_thinking() -> None:
    thinking = {
        "type": "thinking",
        "thinking": "Weigh every option. " * 10_000,
        "signature": "c2ln",
    }
    messages = [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": [
            thinking, {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
        ]},
    ]  # fmt: skip
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    body = {"model": "auto", "max_tokens": 64, "tools": tools, "messages": messages}
    assert parse_messages_request(orjson.dumps(body)).prompt_tokens > 32_000


def test_a_named_model_refuses_a_document_over_its_window_as_a_long_prompt(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, anthropic_models=ANTHROPIC) as sc,
            sdks(sc) as (claude, _),
        ):
            for block in (PDF_DOC, TEXT_DOC):
                with pytest.raises(anthropic.BadRequestError) as info:
                    await claude.messages.create(
                        model="sim-small", max_tokens=64, messages=ask(block)
                    )
                assert "maximum context length is 32000 tokens" in str(info.value)
            ok = await claude.messages.create(model="sim-small", max_tokens=64, messages=ask())
            assert ok.model == "sim-small"

    asyncio.run(main())


def test_auto_routes_a_long_document_to_the_model_it_fits(tmp_path: Path) -> None:
    async def main() -> None:
        async with (
            sidecar_in_process(tmp_path, edit_config=wide_small, anthropic_models=ANTHROPIC) as sc,
            sdks(sc) as (claude, _),
        ):
            for block in (PDF_DOC, SEARCH):
                r = await claude.messages.create(model="auto", max_tokens=64, messages=ask(block))
                assert r.model == "sim-small"

    asyncio.run(main())


def test_count_tokens_counts_a_pdf_by_its_pages_as_routing_does(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (claude, _):
            r = await claude.messages.count_tokens(model="sim-small", messages=ask(PDF_DOC))
            routing = parse_messages_request(
                orjson.dumps({"model": "sim-small", "max_tokens": 64, "messages": ask(PDF_DOC)})
            ).prompt_tokens
            pages = PAGES * media.PDF_TOKENS_PER_PAGE
            assert pages <= r.input_tokens < pages + 100  # not the base64 text's ~1,000s more
            assert abs(r.input_tokens - routing) < 50

    asyncio.run(main())


def test_the_budget_reserves_a_pdfs_pages() -> None:
    from arbiter import worst_case

    body = {"model": "sim-small", "max_tokens": 64, "messages": ask(PDF_DOC)}
    req = parse_messages_request(orjson.dumps(body))
    assert req.budget_body is not None
    assert req.unviewed_tokens == PAGES * media.PDF_TOKENS_PER_PAGE
    worst = worst_case.CallWorst(
        lambda _m: None,  # type: ignore[arg-type,return-value]
        req.budget_body, 64, 2000, None, req.unviewed_tokens,
    )  # fmt: skip
    assert worst.prompt_tokens >= req.unviewed_tokens
    assert worst.prompt_tokens < req.unviewed_tokens + 100  # the base64 is not counted as text


def test_an_openai_pdf_file_part_counts_by_its_pages() -> None:
    from arbiter.surfaces.openai_chat import parse_chat_request

    def tokens(*parts: dict[str, Any]) -> int:
        content = [*parts, {"type": "text", "text": "Summarize."}]
        body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
        return parse_chat_request(orjson.dumps(body)).prompt_tokens

    inline = {"type": "file", "file": {
        "filename": "a.pdf", "file_data": "data:application/pdf;base64," + pdf(PAGES),
    }}  # fmt: skip
    by_id = {"type": "file", "file": {"file_id": "file-abc"}}
    plain = tokens()
    assert tokens(inline) - plain == PAGES * media.PDF_TOKENS_PER_PAGE
    assert tokens(by_id) - plain == media.UNSEEN_DOCUMENT_TOKENS


def test_the_responses_api_counts_files_images_and_text_as_chat_does() -> None:
    """/v1/responses counted characters / 4 of its text only: a 40-page PDF was 7 tokens."""
    from arbiter.surfaces.openai_chat import parse_chat_request
    from arbiter.surfaces.openai_responses import parse_responses_request

    data = "data:application/pdf;base64," + pdf(PAGES)
    item = {"role": "user", "content": [
        {"type": "input_file", "filename": "a.pdf", "file_data": data},
        {"type": "input_text", "text": "Summarize."},
    ]}  # fmt: skip
    req = parse_responses_request(orjson.dumps({"model": "auto", "input": [item]}))
    assert req.prompt_tokens >= PAGES * media.PDF_TOKENS_PER_PAGE
    chat = parse_chat_request(orjson.dumps({"model": "auto", "messages": req.messages}))
    assert req.prompt_tokens == chat.prompt_tokens
