"""The fields Anthropic's API takes on each message and content block: any other is its 400
"<path>: Extra inputs are not permitted", so ours, before routing. Pure.

Unchecked, a misspelt or stray field (a block dumped from an SDK response with `parsed_output`,
an MCP text part's `annotations`, `cache_control` on a thinking block) went on to a Claude model
and came back as its 400 after routing and the budget reservation, while a model of the other
protocol dropped it silently: `auto` failed or not by the model it picked. The path is named as
Anthropic names it, the block's type after its place (`messages.1.content.0.thinking.
cache_control`), inside a tool_result too (`...tool_result.content.0.text.annotations`).

The sets are the anthropic SDK's (2.17) request types, beta ones included, and the response
blocks its beta param union takes back (a block dumped from an answer): every field they define
is allowed, none they do not (tests/test_anthropic_fields.py checks both against the installed
SDK's types). A field Anthropic adds needs a line here; a block type not listed is checked
elsewhere (its type is refused by the decoder).
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest

MESSAGE_FIELDS = frozenset({"role", "content"})  # UserMessageParam, AssistantMessageParam

_CACHED = "cache_control"
BLOCK_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset({"type", *fields})
    for kind, fields in {
        "text": (_CACHED, "citations", "text"),
        "image": (_CACHED, "source", "transformations"),
        "document": (_CACHED, "citations", "context", "source", "title"),
        "search_result": (_CACHED, "citations", "content", "source", "title"),
        "tool_use": (_CACHED, "caller", "id", "input", "name", "toolset_name"),
        "tool_result": (_CACHED, "content", "is_error", "tool_use_id", "toolset_name"),
        "tool_reference": (_CACHED, "tool_name"),
        "browser_state": (_CACHED, "state_changes", "tabs"),
        # signed and replayed verbatim: no cache_control (Anthropic refuses a marker on one)
        "thinking": ("signature", "thinking"),
        "redacted_thinking": ("data",),
        "server_tool_use": (_CACHED, "caller", "id", "input", "name"),
        "web_search_tool_result": (_CACHED, "caller", "content", "tool_use_id"),
        "web_fetch_tool_result": (_CACHED, "caller", "content", "tool_use_id"),
        "code_execution_tool_result": (_CACHED, "content", "tool_use_id"),
        "bash_code_execution_tool_result": (_CACHED, "content", "tool_use_id"),
        "text_editor_code_execution_tool_result": (_CACHED, "content", "tool_use_id"),
        "tool_search_tool_result": (_CACHED, "content", "tool_use_id"),
        "container_upload": (_CACHED, "file_id"),
        # beta
        "advisor_tool_result": (_CACHED, "content", "tool_use_id"),
        "mcp_tool_use": (_CACHED, "id", "input", "name", "server_name"),
        "mcp_tool_result": (_CACHED, "content", "is_error", "tool_use_id"),
        "mcp_tool_listing": ("mcp_server_name", "tools"),
        "compaction": (_CACHED, "content", "encrypted_content", "signature", "tool_changes"),
        "tool_addition": (_CACHED, "tool"),
        "tool_removal": (_CACHED, "tool"),
        "fallback": ("from", "to", "trigger"),
    }.items()
}  # fmt: skip


def check_message_fields(msg: dict[str, Any], param: str) -> None:
    """A user or assistant message holds `role` and `content` only."""
    if not MESSAGE_FIELDS.issuperset(msg):
        _refuse(msg, MESSAGE_FIELDS, param)


def check_block_fields(block: dict[str, Any], kind: str, param: str) -> None:
    """A block of type `kind` (one of BLOCK_FIELDS) holds its type's fields only; `param` is
    where it is (`messages.1.content.0`), the type is named after it as Anthropic names it."""
    allowed = BLOCK_FIELDS.get(kind)
    if allowed is not None and not allowed.issuperset(block):
        _refuse(block, allowed, f"{param}.{kind}")


def _refuse(value: dict[str, Any], allowed: frozenset[str], param: str) -> None:
    key = next(str(k) for k in value if k not in allowed)
    shown = key if len(key) <= 64 else key[:64] + "..."
    raise InvalidRequest(
        f"{param}.{shown}: Extra inputs are not permitted", param=f"{param}.{shown}"
    )
