"""What a request's server tools can bill past one pass over its prompt (budgets' worst case).

Anthropic runs its server tools (web search, web fetch, code execution, an MCP connector's
tools) in a sampling loop of its own, up to 10 iterations before it answers `pause_turn`; each
iteration reads the prompt again with every result found so far, and the usage bills all of
them as input. So one such call can bill many times its prompt: the first iteration reads the
prompt, each later one at most the model's context window. A loop whose server tools are all
web searches runs at most one iteration more than the searches it may run (each later iteration
follows a search). The searches themselves bill per search: a web search tool's `max_uses`, or
the model's `web_search_uses` for one without it (Anthropic sets none); searches past that are
billed as the usage reports them.

OpenAI's `web_search_options` runs no loop: a search-preview model bills a fee per call that
its usage does not count (`price_search_call_usd`)."""

from __future__ import annotations

from typing import Any

from arbiter.server_tools import provider_tools

LOOP_ITERATIONS = 10  # Anthropic's server-side sampling loop, then `pause_turn`


def _is_search(tool: dict[str, Any]) -> bool:
    return str(tool.get("type", "")).startswith("web_search")


def _uses(tool: dict[str, Any], default: int) -> int:
    uses = tool.get("max_uses")
    if isinstance(uses, int) and not isinstance(uses, bool) and uses > 0:
        return uses
    return default


def web_searches(body: dict[str, Any], default: int) -> int:
    """The web searches the request lets the upstream run and bill: its web search tools'
    `max_uses`, `default` for one without."""
    return sum(_uses(t, default) for t in provider_tools(body) if _is_search(t))


def iterations(body: dict[str, Any], default: int) -> int:
    """How many times the upstream may read the prompt in one call: 1 without server tools
    (`mcp_servers` count as such), else the loop's limit, or one more than the searches when
    web searches are its only server tools."""
    tools = provider_tools(body)
    if not tools and body.get("mcp_servers") in (None, []):
        return 1
    if body.get("mcp_servers") in (None, []) and all(_is_search(t) for t in tools):
        return min(LOOP_ITERATIONS, 1 + web_searches(body, default))
    return LOOP_ITERATIONS


def search_calls(body: dict[str, Any]) -> int:
    """OpenAI's search-preview calls the request asks for: 1 with `web_search_options`."""
    return 0 if body.get("web_search_options") is None else 1
