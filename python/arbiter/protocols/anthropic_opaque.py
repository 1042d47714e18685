"""The shapes of the Anthropic blocks that have no OpenAI counterpart (documents, thinking,
search results, container uploads, a tool_result's tool references and browser states), checked
as Anthropic's API checks them. Pure.

They are sent on as they came, so a malformed one (a document with no `source`, a thinking block
whose `thinking` is a number) reached the upstream and came back as its 400, which a client sees
only as "upstream X returned HTTP 400" (the upstream's own words never reach a client). Checked
here, it is the caller's 400 naming the field, before any routing. The shapes are those of the
anthropic SDK's request types (DocumentBlockParam and its sources, ThinkingBlockParam, ...).
Server-tool blocks (server_tool_use, the tool results, MCP blocks) stay the upstream's to judge.
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c

# a document's source type -> the media_type it must name (None: it names none)
_DOCUMENT_SOURCES: dict[str, str | None] = {
    "base64": "application/pdf", "text": "text/plain", "content": None, "url": None, "file": None,
}  # fmt: skip


def check_opaque(kind: str, block: dict[str, Any], param: str) -> None:
    """The 400 naming the first field of `block` (an Anthropic block of type `kind`) that
    Anthropic would refuse; nothing for a good block or a kind not checked here."""
    if kind == "document":
        _document(block, param)
    elif kind == "thinking":
        _required_string(block, "thinking", param)
        _required_string(block, "signature", param)
    elif kind == "redacted_thinking":
        _required_string(block, "data", param)
    elif kind == "search_result":
        _search_result(block, param)
    elif kind == "container_upload":
        _required_string(block, "file_id", param)
    elif kind == "tool_reference":
        _required_string(block, "tool_name", param)
    elif kind == "browser_state":
        c.array(_required(block, "tabs", param), f"{param}.tabs")


def _document(block: dict[str, Any], param: str) -> None:
    source = c.obj(_required(block, "source", param), f"{param}.source")
    kind = source.get("type")
    if not isinstance(kind, str) or kind not in _DOCUMENT_SOURCES:
        raise InvalidRequest(
            f"{param}.source.type: Input should be 'base64', 'text', 'content', 'url' or 'file'",
            param=f"{param}.source.type",
        )
    media_type = _DOCUMENT_SOURCES[kind]
    at = f"{param}.source"
    if media_type is not None:
        if _required(source, "media_type", at) != media_type:
            raise InvalidRequest(
                f"{at}.media_type: Input should be '{media_type}'", param=f"{at}.media_type"
            )
        _required_string(source, "data", at)
    elif kind == "content":
        _content_source(_required(source, "content", at), f"{at}.content")
    elif kind == "url":
        c.string(_required(source, "url", at), f"{at}.url", non_empty=True)
    else:
        c.string(_required(source, "file_id", at), f"{at}.file_id", non_empty=True)
    for key in ("title", "context"):
        c.opt_string(block.get(key), f"{param}.{key}")
    _citations(block.get("citations"), param)


def _content_source(content: Any, param: str) -> None:
    """A `content` source: a string, or text and image blocks."""
    if isinstance(content, str):
        return
    for i, part in enumerate(c.array(content, param)):
        part = c.obj(part, f"{param}.{i}")
        kind = part.get("type")
        if kind == "text":
            _required_string(part, "text", f"{param}.{i}")
        elif kind == "image":
            c.obj(_required(part, "source", f"{param}.{i}"), f"{param}.{i}.source")
        else:
            raise InvalidRequest(
                f"{param}.{i}.type: Input should be 'text' or 'image'", param=f"{param}.{i}.type"
            )


def _search_result(block: dict[str, Any], param: str) -> None:
    _required_string(block, "source", param)
    _required_string(block, "title", param)
    content = c.array(_required(block, "content", param), f"{param}.content")
    for i, part in enumerate(content):
        part = c.obj(part, f"{param}.content.{i}")
        if part.get("type") != "text":
            raise InvalidRequest(
                f"{param}.content.{i}.type: Input should be 'text'",
                param=f"{param}.content.{i}.type",
            )
        _required_string(part, "text", f"{param}.content.{i}")
    _citations(block.get("citations"), param)


def _citations(value: Any, param: str) -> None:
    if value is None:
        return
    citations = c.obj(value, f"{param}.citations")
    c.opt_bool(citations.get("enabled"), f"{param}.citations.enabled")


def _required(block: dict[str, Any], key: str, param: str) -> Any:
    if key not in block:
        raise InvalidRequest(f"{param}.{key}: Field required", param=f"{param}.{key}")
    return block[key]


def _required_string(block: dict[str, Any], key: str, param: str) -> str:
    return c.string(_required(block, key, param), f"{param}.{key}")
