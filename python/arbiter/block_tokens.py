"""What an Anthropic block that OpenAI has no counterpart for (document, thinking, search_result,
a Files API reference, ...) puts in the prompt: its readable text, and the tokens no text shows.

One function (`of_block`) serves routing's context check (`ChatRequest.prompt_tokens`), the budget
reservation and /v1/messages/count_tokens, so the three agree on what a document costs. The text
is counted by each caller's tokenizer; `tokens` is an estimate for what has no text here:

- A base64 PDF: by its pages (media.pdf_tokens: Anthropic's 1,500-3,000 tokens a page).
- A document or image Arbiter cannot see (a URL, a Files API `file_id`): its size is unknown
  without fetching it, so a document counts as one PDF page (media.UNSEEN_DOCUMENT_TOKENS) and
  an image as a 1024 x 1024 one, as an OpenAI image link does, at Anthropic's rule (1,399
  tokens, not gpt-4o's 765): only Anthropic models read Files API images and documents.
- `redacted_thinking`: encrypted, no text; its data's characters / 4.
- `container_upload`: the file goes into the code-execution container, not the context: 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from arbiter import image_rules, media

# an image seen only by Anthropic models, of a size unknown here (1024 x 1024, as a link)
_UNSEEN_IMAGE = image_rules.parse("anthropic").tokens(
    media.DEFAULT_IMAGE_SIDE, media.DEFAULT_IMAGE_SIDE
)


@dataclass(frozen=True, slots=True)
class BlockCount:
    text: str  # what the model reads as text (counted by the caller's tokenizer)
    tokens: int  # what it reads that has no text here (a PDF's pages, an unseen file)


def of_block(kind: str, block: Mapping[str, Any]) -> BlockCount:
    """The text and extra tokens of one opaque Anthropic block (`kind`: canonical OpaquePart's)."""
    if kind == "thinking":
        return BlockCount(_str(block.get("thinking")), 0)
    if kind == "redacted_thinking":
        return BlockCount("", math.ceil(len(_str(block.get("data"))) / 4))
    if kind == "document":
        return _document(block)
    if kind == "search_result":
        head = "\n".join(_str(block.get(k)) for k in ("title", "source"))
        return BlockCount(_joined(head, _content_text(block.get("content"))), 0)
    if kind == "image file":  # an image from the Files API: its size is unknown here
        return BlockCount("", _UNSEEN_IMAGE)
    if kind == "container_upload":
        return BlockCount("", 0)
    # server_tool_use, web_search_tool_result, ...: what the model reads is the block itself
    return BlockCount(orjson.dumps(dict(block)).decode(), 0)


def _document(block: Mapping[str, Any]) -> BlockCount:
    head = "\n".join(_str(block.get(k)) for k in ("title", "context"))
    source = block.get("source")
    source = source if isinstance(source, Mapping) else {}
    kind = source.get("type")
    if kind == "text":
        return BlockCount(_joined(head, _str(source.get("data"))), 0)
    if kind == "content":
        content = source.get("content")
        images = sum(
            1 for p in content if isinstance(p, Mapping) and p.get("type") == "image"
        ) if isinstance(content, list) else 0  # fmt: skip
        return BlockCount(_joined(head, _content_text(content)), images * _UNSEEN_IMAGE)
    if kind == "base64":
        return BlockCount(head, media.pdf_tokens(_str(source.get("data"))))
    return BlockCount(head, media.UNSEEN_DOCUMENT_TOKENS)  # url, file


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
    )


def _joined(head: str, body: str) -> str:
    return f"{head}\n{body}" if head.strip() else body


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
