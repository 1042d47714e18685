"""An Anthropic model's thinking through the Responses API, both ways. Pure.

Out: each thinking block of an answer is a `reasoning` item whose one content part is its
`reasoning_text` (as OpenAI gives a reasoning model's text), streamed or not. With `include:
["reasoning.encrypted_content"]` the item carries the block's signature as its
`encrypted_content` (OpenAI's field for the opaque state a client sends back), behind
SIGNED; a redacted_thinking block, which has no text, carries its data there behind REDACTED.
The prefixes tell Arbiter's own items from OpenAI's encrypted reasoning (which no Anthropic
model could read: such an item stays ignored, as before). Without the include, a block with no
text (redacted) is no item at all: an empty `reasoning_text` with nothing to carry told the
client nothing (openai_responses_object.output_items, openai_responses_stream: such an item is only
added with its first text). The spec now says `encrypted_content` is "populated by default";
Arbiter keeps it behind the include, as OpenAI's stateless (`store: false`) callers ask for it.

In: a `reasoning` input item with Arbiter's `encrypted_content` is the thinking block it came
from (its text, its signature, as they were), sent to an Anthropic model in the assistant turn
where the item stands: a tool-use loop with thinking must send the turn's thinking back
unchanged, or Anthropic refuses the next turn. An OpenAI model gets no reasoning item (the Chat
Completions view has none), as before.
"""

from __future__ import annotations

from typing import Any

from arbiter.canonical import OpaquePart
from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c

ENCRYPTED_INCLUDE = "reasoning.encrypted_content"  # the `include` value that asks for it
SIGNED = "anthropic.thinking:"
REDACTED = "anthropic.redacted_thinking:"


def encrypted_content(signature: str, redacted: str) -> str | None:
    """The reasoning item's `encrypted_content` for a thinking block (None: it has none)."""
    if redacted:
        return REDACTED + redacted
    return SIGNED + signature if signature else None


def reasoning_item(
    item_id: str, text: str, status: str, encrypted: str | None = None, *, carry: bool = False
) -> dict[str, Any]:
    """A thinking block as the Responses API's reasoning item: its text the one content part
    (no summary was asked for; OpenAI's gpt-oss streams its reasoning so). `carry`: the
    request's `include` asked for `encrypted_content` (then always present, null when the
    block had none, as OpenAI's item says it)."""
    item: dict[str, Any] = {
        "type": "reasoning", "id": item_id, "summary": [],
        "content": [{"type": "reasoning_text", "text": text}], "status": status,
    }  # fmt: skip
    if carry:
        item["encrypted_content"] = encrypted
    return item


def thinking_part(item: dict[str, Any], where: str) -> OpaquePart | None:
    """A `reasoning` input item as the Anthropic thinking block it stands for, or None when it
    carries no `encrypted_content` (nothing Anthropic would take back)."""
    encrypted = c.opt_string(item.get("encrypted_content"), f"{where}.encrypted_content")
    if encrypted is None:
        return None
    if encrypted.startswith(REDACTED):
        data = encrypted[len(REDACTED) :]
        block: dict[str, Any] = {"type": "redacted_thinking", "data": data}
        return OpaquePart("anthropic", "redacted_thinking", block)
    if not encrypted.startswith(SIGNED):
        return None  # OpenAI's own encrypted reasoning: for OpenAI only
    texts = []
    content = item.get("content")
    for j, part in enumerate(c.array([] if content is None else content, f"{where}.content")):
        at = f"{where}.content[{j}]"
        part = c.obj(part, at)
        if part.get("type") != "reasoning_text":
            raise InvalidRequest(
                f"Invalid value for '{at}.type': {part.get('type')!r} (reasoning_text).",
                param=f"{at}.type",
            )
        texts.append(c.string(part.get("text"), f"{at}.text"))
    signature = encrypted[len(SIGNED) :]
    block = {"type": "thinking", "thinking": "".join(texts), "signature": signature}
    return OpaquePart("anthropic", "thinking", block)
