"""Requests that make the provider act on its own side: Anthropic's server tools (web search, web
fetch, code execution, tool search, any tool type it runs itself), its MCP connector
(`mcp_servers`: the provider calls the client's MCP servers), a code-execution `container`, and
OpenAI's `web_search_options` (its mere presence turns search on).

Their answer is what those actions found or did at that moment, and the actions themselves may
matter (an MCP tool files a ticket, a fetch hits a third party's site, each search is billed per
use outside any token count). So such a request is never served from or stored in the response
cache (a hit would skip the actions and serve stale search results; the canonical answer also
loses the server-tool blocks and citations), and never copied to another model as shadow traffic
or a latency probe (the copy would perform them again).

Tools the client runs (functions, OpenAI's `custom`, Anthropic's bash / text editor / computer /
memory tools and its computer and browser toolsets, whose members' calls the client's driver
runs: Anthropic's tool reference lists both as client toolsets) only ask the model to emit a
call: the answer is the model's alone.

A stored answer is the provider's too (`stored`): Chat Completions' `store: true` has OpenAI keep
the completion as an object of its own, which the caller may later list, fetch by its id or feed
to evals and distillation. A hit would hand back another request's id (an object stored for that
request, or none), and a shadow copy would store a second completion under the caller's account.
The spec's default is false there, so a request without `store` is an ordinary one. The
Responses API's default is true, but Arbiter answers it statelessly (its answer says `store:
false`, nothing is kept upstream: the call is a Chat Completions call without `store`) and
refuses `store: true` with a 400 (protocols/openai_responses.py), so no Responses request
reaches the cache or the shadow asking to be stored.
"""

from __future__ import annotations

from typing import Any

# Anthropic's tool types the client runs: a tool_use block comes back, nothing happens upstream
# (names are versioned, `bash_20250124`, `text_editor_20250728`, ...). Any other typed tool is
# taken as run by the provider: a type not known here is treated as the one that acts.
_CLIENT_TOOL_PREFIXES = ("bash_", "text_editor_", "computer_", "memory_", "browser_toolset_")
_CLIENT_TOOL_TYPES = frozenset({"function", "custom"})
# top-level fields whose presence (any value but null or an empty list) has the provider act
_ACTING_FIELDS = ("mcp_servers", "container", "web_search_options")


def acting(body: dict[str, Any]) -> str | None:
    """What in this request body has the provider act on its own side (for messages and
    counters), or None when nothing does."""
    for name in _ACTING_FIELDS:
        if body.get(name) not in (None, []):
            return f"'{name}'"
    tools = provider_tools(body)
    return f"the {tools[0]['type'][:64]!r} tool" if tools else None


def provider_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's tools the provider runs itself (Anthropic's server tools: any typed tool
    that is not a client's)."""
    tools = body.get("tools")
    return [
        t
        for t in (tools if isinstance(tools, list) else ())
        if isinstance(t, dict)
        and isinstance(kind := t.get("type"), str)
        and kind not in _CLIENT_TOOL_TYPES
        and not kind.startswith(_CLIENT_TOOL_PREFIXES)
    ]


def stored(body: dict[str, Any]) -> str | None:
    """`'store'` when the request asks the provider to keep its answer (`store: true`), else
    None (false, null and absent alike: the spec's default is false)."""
    return "'store'" if body.get("store") is True else None


def provider_side(body: dict[str, Any]) -> str | None:
    """What in this request has the provider act on its own side or keep its answer (never
    served from or stored in the cache, never copied to another model), or None."""
    return acting(body) or stored(body)
