"""Prompt-caching hints inside a request, taken out of its cache key view (cache/keys.py).

A provider's prompt-cache hints say where its own prompt cache may cut the prompt, never what
the model answers: Anthropic's `cache_control` on a content block, a system block or a tool
(a client's rolling breakpoint sits on the latest message, so the same conversation asked
twice carried it on another block), and OpenAI's `prompt_cache_breakpoint` on a content part
and `prompt_cache_options` (`ttl`, `mode`). Each split Arbiter's exact cache (and the semantic
side's context key) as `prompt_cache_key` once did. `prompt_cache_options` with any other
field (a `prewarm`, which generates nothing, or a `comparison_response_id`) stays in the key:
a field we do not know may change the answer.

Only what holds a hint is copied; a body without one is returned as it came. The walk reads
each message's content list (a string content costs one type check); scanning the key's own
dump for the hints' names instead cost more on long texts (bench/edge27_request_checks.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["without_cache_hints"]

_PART_HINTS = ("cache_control", "prompt_cache_breakpoint")
_OPTIONS_HINTS = frozenset({"ttl", "mode"})  # the spec's PromptCacheOptionsParam


def without_cache_hints(view: dict[str, Any]) -> dict[str, Any]:
    """`view` (a body without its delivery fields, owned by the caller) with its prompt-cache
    hints taken out, in place where they are top-level, copied where they are nested."""
    options = view.get("prompt_cache_options")
    if options is None or (isinstance(options, dict) and _OPTIONS_HINTS.issuperset(options)):
        view.pop("prompt_cache_options", None)
    for key in ("messages", "system", "tools"):
        value = view.get(key)
        if isinstance(value, list):
            view[key] = _list(value, messages=key == "messages")
    return view


def _list(items: list[Any], *, messages: bool) -> list[Any]:
    """`items` (messages, or blocks) without hints: itself when none held one."""
    out = items
    for i, item in enumerate(items):
        if type(item) is not dict:
            continue
        plain = item
        if not messages and ("cache_control" in item or "prompt_cache_breakpoint" in item):
            plain = {k: v for k, v in item.items() if k not in _PART_HINTS}
        # a message's blocks; a block's own (a tool_result's: Anthropic takes a breakpoint there)
        inner = plain.get("content")
        if type(inner) is list:
            kept = _list(inner, messages=False)
            if kept is not inner:
                plain = {**plain, "content": kept}
        if plain is not item:
            if out is items:
                out = list(items)
            out[i] = plain
    return out
