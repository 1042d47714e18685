"""The fields Anthropic's API takes on each message, content block, system block and tool: any
other is its 400 "<path>: Extra inputs are not permitted", so ours, before routing. Pure.

Unchecked, a misspelt or stray field (a block dumped from an SDK response with `parsed_output`,
an MCP text part's `annotations`, `cache_control` on a thinking block) went on to a Claude model
and came back as its 400 after routing and the budget reservation, while a model of the other
protocol dropped it silently: `auto` failed or not by the model it picked. The path is named as
Anthropic names it, the block's type after its place (`messages.1.content.0.thinking.
cache_control`), inside a tool_result too (`...tool_result.content.0.text.annotations`); a tool
the same way (`tools.0.custom.defer_loadin`, `tools.1.web_search_20250305.max_use`), and a
top-level system block without its type (`system.0.id`: a LangChain text block's id), the
system prompt being a list of text blocks, not a tagged union.

The sets are the anthropic SDK's (2.17) request types, beta ones included, and the response
blocks its beta param union takes back (a block dumped from an answer): every field they define
is allowed, none they do not (tests/test_anthropic_fields.py checks both against the installed
SDK's types). A field Anthropic adds needs a line here; a block type not listed is checked
elsewhere (its type is refused by the decoder); a tool type not listed (a server tool newer
than the SDK) is the upstream's to judge, as its type is.
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


# TextBlockParam: the top-level `system` blocks
SYSTEM_BLOCK_FIELDS = BLOCK_FIELDS["text"]

# a provider-defined tool's common fields; its own follow its type
_TOOL = (_CACHED, "allowed_callers", "defer_loading", "name", "strict")
_EXAMPLES = "input_examples"
_DISPLAY = ("display_height_px", "display_number", "display_width_px")
_DOMAINS = ("allowed_domains", "blocked_domains", "max_uses")
_FETCH = (*_DOMAINS, "citations", "max_content_tokens", "url_sources")
_TOOLSET = (_CACHED, "configs")
TOOL_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset({"type", *fields})
    for kind, fields in {
        # a custom tool, its `type` "custom" or absent (Anthropic's errors name it `custom`)
        "custom": (*_TOOL, _EXAMPLES, "description", "eager_input_streaming", "input_schema"),
        "bash_20241022": (*_TOOL, _EXAMPLES),
        "bash_20250124": (*_TOOL, _EXAMPLES),
        "code_execution_20250522": _TOOL,
        "code_execution_20250825": _TOOL,
        "code_execution_20260120": _TOOL,
        "code_execution_20260521": _TOOL,
        "computer_20241022": (*_TOOL, _EXAMPLES, *_DISPLAY),
        "computer_20250124": (*_TOOL, _EXAMPLES, *_DISPLAY),
        "computer_20251124": (*_TOOL, _EXAMPLES, *_DISPLAY, "enable_zoom"),
        "memory_20250818": (*_TOOL, _EXAMPLES),
        "text_editor_20241022": (*_TOOL, _EXAMPLES),
        "text_editor_20250124": (*_TOOL, _EXAMPLES),
        "text_editor_20250429": (*_TOOL, _EXAMPLES),
        "text_editor_20250728": (*_TOOL, _EXAMPLES, "max_characters"),
        "tool_search_tool_bm25_20251119": _TOOL,
        "tool_search_tool_regex_20251119": _TOOL,
        "web_fetch_20250910": (*_TOOL, *_FETCH),
        "web_fetch_20260209": (*_TOOL, *_FETCH),
        "web_fetch_20260309": (*_TOOL, *_FETCH, "use_cache"),
        "web_fetch_20260318": (*_TOOL, *_FETCH, "use_cache", "response_inclusion"),
        "web_search_20250305": (*_TOOL, *_DOMAINS, "user_location"),
        "web_search_20260209": (*_TOOL, *_DOMAINS, "user_location"),
        "web_search_20260318": (*_TOOL, *_DOMAINS, "user_location", "response_inclusion"),
        "browser_toolset_20260801": _TOOLSET,
        "computer_toolset_20260801": _TOOLSET,
        # beta
        "advisor_20260301": (*_TOOL, "caching", "max_tokens", "max_uses", "model"),
        "mcp_toolset": (*_TOOLSET, "default_config", "mcp_server_name", "tools"),
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


def check_system_block_fields(block: dict[str, Any], param: str) -> None:
    """A top-level system block (`system.0`) holds a text block's fields only, named without
    its type (the list is of text blocks alone, no tagged union)."""
    if not SYSTEM_BLOCK_FIELDS.issuperset(block):
        _refuse(block, SYSTEM_BLOCK_FIELDS, param)


def check_tool_fields(tool: dict[str, Any], kind: str, param: str) -> None:
    """A tool of type `kind` ("custom" for a custom tool) holds its type's fields only; `param`
    is where it is (`tools.0`), the type is named after it as Anthropic names it."""
    allowed = TOOL_FIELDS.get(kind)
    if allowed is not None and not allowed.issuperset(tool):
        _refuse(tool, allowed, f"{param}.{kind}")


def _refuse(value: dict[str, Any], allowed: frozenset[str], param: str) -> None:
    key = next(str(k) for k in value if k not in allowed)
    shown = key if len(key) <= 64 else key[:64] + "..."
    raise InvalidRequest(
        f"{param}.{shown}: Extra inputs are not permitted", param=f"{param}.{shown}"
    )
