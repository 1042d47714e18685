"""Anthropic's system text: the top-level `system` (a string or text blocks) and `role: "system"`
messages inside `messages` (the anthropic SDK's SystemMessageParam), checked as Anthropic checks
them, as the canonical form's system texts; and a text block's text, which both hold. Pure.
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c
from arbiter.protocols.anthropic_fields import check_block_fields, check_system_block_fields


def system_prompt(value: Any) -> tuple[str, ...]:
    """The top-level `system`'s texts (None, a string or text blocks)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    blocks = c.array(value, "system")
    out = []
    for i, block in enumerate(blocks):
        block = c.obj(block, f"system.{i}")
        if block.get("type") != "text":
            raise InvalidRequest(
                f"system.{i}.type: Input should be 'text'", param=f"system.{i}.type"
            )
        check_system_block_fields(block, f"system.{i}")
        out.append(text_of(block, f"system.{i}"))
    return tuple(out)


def text_of(block: dict[str, Any], param: str) -> str:
    """A text block's text: Anthropic refuses an empty one (its 400, after routing), while a
    message's plain string content may be empty (the final assistant message's rule)."""
    text = c.string(block.get("text"), f"{param}.text")
    if not text:
        raise InvalidRequest(
            f"{param}.text: text content blocks must be non-empty", param=f"{param}.text"
        )
    return text


# a system message's beta fields, and the values of theirs that change nothing
_SYSTEM_MESSAGE_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "clear_at": (None, "never"),
    "output_config": (None, {}),
}


def system_message(msg: dict[str, Any], i: int) -> list[str]:
    """A `role: "system"` message's texts: its content a non-empty string or text blocks. Its
    beta fields (`clear_at`, `output_config`) change what the model is shown per turn, which
    the canonical system text cannot say: set to other than their defaults, they are refused
    by name, not dropped."""
    for key, value in msg.items():
        if key in _SYSTEM_MESSAGE_DEFAULTS:
            if value in _SYSTEM_MESSAGE_DEFAULTS[key]:
                continue
            raise InvalidRequest(
                f"messages.{i}.{key}: not supported on a system message by this sidecar; send "
                "the system message without it",
                param=f"messages.{i}.{key}",
            )
        if key not in ("role", "content"):
            raise InvalidRequest(
                f"messages.{i}.{key}: Extra inputs are not permitted", param=f"messages.{i}.{key}"
            )
    content = msg.get("content")
    if isinstance(content, str):
        if not content:
            raise InvalidRequest(
                f"messages.{i}: a system message must have non-empty content",
                param=f"messages.{i}.content",
            )
        return [content]
    blocks = c.array(content, f"messages.{i}.content", non_empty=True)
    texts = []
    for j, block in enumerate(blocks):
        block = c.obj(block, f"messages.{i}.content.{j}")
        if block.get("type") != "text":
            raise InvalidRequest(
                f"messages.{i}.content.{j}.type: Input should be 'text'",
                param=f"messages.{i}.content.{j}.type",
            )
        # named with its type: the beta system message takes a union of text, tool_addition
        # and tool_removal blocks (a tagged union, as a user message's content is)
        check_block_fields(block, "text", f"messages.{i}.content.{j}")
        texts.append(text_of(block, f"messages.{i}.content.{j}"))
    return texts
