"""Anthropic's `cache_control` checked where a request may carry it: on system blocks, content
blocks (a tool_result's inner blocks too), tools, and the request itself (automatic caching).
Each is {"type": "ephemeral"} with an optional `ttl` of "5m" or "1h", at most MAX_BREAKPOINTS
breakpoints are set (the request's own, automatic caching's, is one: on the last block, unless
that block has its own of the same ttl), and no
"1h" one comes after a "5m" one (an unset ttl is "5m") in the order Anthropic reads the blocks:
tools, system, messages, then the automatic one. Unchecked, a misspelling, a fifth
breakpoint or a growing ttl went on to a Claude model as it came and came back as Anthropic's
400 after routing and the budget reservation (an OpenAI model drops cache_control, so `auto`
failed only sometimes). Pure; runs once over a body the decoder has already walked (linear in
its blocks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c

MAX_BREAKPOINTS = 4  # "A maximum of 4 blocks with cache_control may be provided."
TTLS = ("5m", "1h")
_FIELDS = frozenset({"type", "ttl"})


def check_cache_control(body: dict[str, Any]) -> None:
    """Every `cache_control` of an Anthropic request body, or the 400 naming where it is. The
    request-level one (automatic caching) is a breakpoint Anthropic puts on the last cacheable
    block: after every block's own, in the ttl order, and one of the MAX_BREAKPOINTS slots
    (platform.claude.com/docs/en/build-with-claude/prompt-caching: "automatic caching uses one
    of the 4 slots"; a 1h entry must come before a 5m one), unless that block is marked already
    (_marked_last)."""
    automatic = body.get("cache_control")
    _check_one(automatic, "cache_control")
    marks = [(value, where) for value, where in _block_marks(body) if value is not None]
    if automatic is not None and not _marked_last(body, automatic, marks):
        marks.append((automatic, "cache_control"))  # the last block's, whichever it is
    first_short: str | None = None  # where the first "5m" breakpoint is, once one is seen
    for value, where in marks:
        if where != "cache_control":
            _check_one(value, where)
        if value.get("ttl") == "1h" and first_short is not None:
            raise InvalidRequest(
                f"{where}.ttl: a ttl='1h' cache_control block must not come after a "
                f"ttl='5m' cache_control block ({first_short}). Blocks are processed in "
                "the following order: `tools`, `system`, `messages`"
                + (
                    "; the request's own cache_control (automatic caching) marks the last block."
                    if where == "cache_control"
                    else "."
                ),
                param=f"{where}.ttl",
            )
        if first_short is None and value.get("ttl", "5m") == "5m":
            first_short = where
    if len(marks) > MAX_BREAKPOINTS:
        automatic_too = " (automatic caching, the request's own cache_control, takes one)"
        raise InvalidRequest(
            f"cache_control: A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be "
            f"provided. Found {len(marks)}"
            + (automatic_too if automatic is not None else "")
            + ".",
            param="cache_control",
        )


def _marked_last(body: dict[str, Any], automatic: Any, marks: list[tuple[Any, str]]) -> bool:
    """Whether the last block already carries its own breakpoint of automatic caching's ttl:
    then automatic caching is a no-op and takes no slot of its own (Anthropic's prompt-caching
    docs, "Edge cases": "If the last block already has an explicit cache_control with the same
    TTL, automatic caching is a no-op."); of another ttl it is Anthropic's 400. Counted as a
    second breakpoint, a request with four of its own, the last one of them, was refused here
    while Anthropic serves it."""
    messages = body.get("messages")
    if not (isinstance(messages, list) and messages and isinstance(messages[-1], dict)):
        return False
    i = len(messages) - 1
    blocks = messages[i].get("content")
    if not (isinstance(blocks, list) and blocks and isinstance(blocks[-1], dict)):
        return False  # a string turn carries no mark of its own
    last = f"messages.{i}.content.{len(blocks) - 1}.cache_control"
    own = next((value for value, where in marks if where == last), None)
    if own is None:
        return False
    _check_one(own, last)
    ttl, own_ttl = automatic.get("ttl", "5m"), own.get("ttl", "5m")
    if ttl != own_ttl:
        raise InvalidRequest(
            f"cache_control.ttl: automatic caching (the request's own cache_control, "
            f"ttl={ttl!r}) marks the last block, which already has a cache_control of "
            f"ttl={own_ttl!r} ({last}). Give both the same ttl, or leave one out.",
            param="cache_control.ttl",
        )
    return True


def asks_caching(body: dict[str, Any]) -> bool:
    """Whether a request asks Anthropic to write to its prompt cache (a breakpoint on a block,
    or automatic caching): its prompt may then be billed at the cache write price, up to 2x
    the input's (worst_case.CallWorst holds it so)."""
    if body.get("cache_control") is not None:
        return True
    return any(value is not None for value, _ in _block_marks(body))


def asks_hour_caching(body: dict[str, Any]) -> bool:
    """Whether a request asks for a write to Anthropic's 1-hour cache (`ttl: "1h"` on a block
    or the request), billed 2x the input price (5-minute writes 1.25x)."""
    marks = [body.get("cache_control"), *(value for value, _ in _block_marks(body))]
    return any(isinstance(m, dict) and m.get("ttl") == "1h" for m in marks)


def _check_one(value: Any, where: str) -> None:
    if value is None:
        return
    mark = c.obj(value, where)
    for key in mark:
        if key not in _FIELDS:
            raise InvalidRequest(
                f"{where}.{key}: Extra inputs are not permitted", param=f"{where}.{key}"
            )
    if mark.get("type") != "ephemeral":
        raise InvalidRequest(f"{where}.type: Input should be 'ephemeral'", param=f"{where}.type")
    c.opt_choice(mark.get("ttl"), f"{where}.ttl", TTLS)


def _block_marks(body: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """(a block's cache_control or None, where it is) for every block that may carry one, in
    the order Anthropic caches them (a ttl rule depends on it)."""
    yield from _marks(body.get("tools"), "tools")
    yield from _marks(body.get("system"), "system")
    messages = body.get("messages")
    for i, msg in enumerate(messages if isinstance(messages, list) else ()):
        if isinstance(msg, dict):
            yield from _marks(msg.get("content"), f"messages.{i}.content")


def _marks(blocks: Any, where: str) -> Iterator[tuple[Any, str]]:
    if not isinstance(blocks, list):  # a string system prompt or content: nothing to mark
        return
    for j, block in enumerate(blocks):
        if isinstance(block, dict):
            yield block.get("cache_control"), f"{where}.{j}.cache_control"
            if block.get("type") == "tool_result":
                yield from _marks(block.get("content"), f"{where}.{j}.content")
