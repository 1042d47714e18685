"""What a request's server tools can bill past one pass over its prompt (budgets' worst case).

Anthropic runs its server tools (web search, web fetch, code execution, an MCP connector's
tools) in a sampling loop of its own, up to 10 iterations before it answers `pause_turn`; each
iteration reads the prompt again with every result found so far, and the usage bills all of
them as input. So one such call can bill many times its prompt: the first iteration reads the
prompt, each later one at most the model's context window. A loop whose server tools are all
web searches and fetches runs at most one iteration more than the uses it may run (each later
iteration follows one; not so for a version that filters its results with code execution,
from 2026-02-09, which may run code between them). The searches themselves bill per search: a
web search tool's `max_uses`, or the model's `web_search_uses` for one without it (Anthropic
sets none); searches past that are billed as the usage reports them.

Each later iteration reads no more than the first one's prompt, the model's output so far (at
most the call's output limit: the loop's iterations share one `max_tokens`) and the results its
tools returned: a web search's at most the model's `web_search_result_tokens` (Anthropic
documents no size; its own example search read ~6,000 tokens), a web fetch's at most its
`max_content_tokens`. A tool whose results have no bound (code execution, an MCP server's tools,
a fetch without `max_content_tokens`, a type not known here) leaves the context window as the
bound (`results_bound` None). The window bounds every read whatever the results.

Web fetches bill their content as input tokens and no fee (`price_web_fetch_usd`, 0 unless set).
Code execution bills container time ($0.05 an hour, 5 minutes at the least), which no usage
reports: a call that offers it is held and billed `code_execution_minutes` of it, unless a
gateway's usage counts no `code_execution_requests`, or a web search or fetch that filters with
code (versions from 2026-02-09) makes it free.

OpenAI's `web_search_options` runs no loop: a search-preview model bills a fee per call that
its usage does not count (`price_search_call_usd`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arbiter.server_tools import provider_tools

if TYPE_CHECKING:
    from arbiter.config import ModelSettings

LOOP_ITERATIONS = 10  # Anthropic's server-side sampling loop, then `pause_turn`


def _is_search(tool: dict[str, Any]) -> bool:
    return str(tool.get("type", "")).startswith("web_search")


def _is_fetch(tool: dict[str, Any]) -> bool:
    return str(tool.get("type", "")).startswith("web_fetch")


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _uses(tool: dict[str, Any], default: int) -> int:
    uses = _positive(tool.get("max_uses"))
    return default if uses is None else uses


def web_searches(body: dict[str, Any], default: int) -> int:
    """The web searches the request lets the upstream run and bill: its web search tools'
    `max_uses`, `default` for one without."""
    return sum(_uses(t, default) for t in provider_tools(body) if _is_search(t))


def web_fetches(body: dict[str, Any], default: int) -> int:
    """The web fetches the request lets the upstream run: its web fetch tools' `max_uses`,
    `default` for one without."""
    return sum(_uses(t, default) for t in provider_tools(body) if _is_fetch(t))


def iterations(body: dict[str, Any], default: int) -> int:
    """How many times the upstream may read the prompt in one call: 1 without server tools
    (`mcp_servers` count as such), else the loop's limit, or one more than the searches and
    fetches when web searches and fetches that run no code are its only server tools (a
    version that filters with code execution may run code between them: the loop's limit)."""
    tools = provider_tools(body)
    if not tools and body.get("mcp_servers") in (None, []):
        return 1
    plain = all((_is_search(t) or _is_fetch(t)) and not _filters_with_code(t) for t in tools)
    if body.get("mcp_servers") in (None, []) and plain:
        uses = web_searches(body, default) + web_fetches(body, default)
        return min(LOOP_ITERATIONS, 1 + uses)
    return LOOP_ITERATIONS


def results_bound(body: dict[str, Any], default: int, search_tokens: int) -> int | None:
    """The most tokens the request's server tools can return into the loop: each web search's
    results at `search_tokens`, each web fetch's at its `max_content_tokens`, times their
    uses; None when a tool's results have no bound (see the module docstring)."""
    if body.get("mcp_servers") not in (None, []):
        return None
    total = 0
    for tool in provider_tools(body):
        if _is_search(tool):
            total += _uses(tool, default) * search_tokens
        elif _is_fetch(tool) and (page := _positive(tool.get("max_content_tokens"))) is not None:
            total += _uses(tool, default) * page
        else:
            return None
    return total


def loop_read(prompt: int, output: int, window: int, later: int, results: int | None) -> int:
    """The input tokens a server tool loop may bill: the `prompt` once, then `later` reads of
    at most the prompt, the `output` limit and the tools' `results` (None: unbounded), each at
    most the context `window` (or the prompt where it is bigger)."""
    most = max(window, prompt)
    each = most if results is None else min(most, prompt + output + results)
    return prompt + later * each


def _is_code(tool: dict[str, Any]) -> bool:
    return str(tool.get("type", "")).startswith("code_execution")


def _filters_with_code(tool: dict[str, Any]) -> bool:
    """A web search or fetch version that filters its results with code execution (dated
    2026-02-09 or later): Anthropic bills no code execution beside it."""
    kind = str(tool.get("type", ""))
    if not (_is_search(tool) or _is_fetch(tool)):
        return False
    date = kind.rsplit("_", 1)[-1]
    return len(date) == 8 and date.isdigit() and date >= "20260209"


def container_sessions(body: dict[str, Any]) -> int:
    """The code execution container sessions a call may be billed: 1 when the request offers
    a code execution tool (and no web search or fetch version that makes it free), else 0."""
    tools = provider_tools(body)
    if not any(_is_code(t) for t in tools) or any(_filters_with_code(t) for t in tools):
        return 0
    return 1


def fees(body: dict[str, Any], m: ModelSettings, code_executions: int | None = None) -> float:
    """What a call bills beside its usage's tokens, searches and fetches: OpenAI's search-preview
    fee, and a code execution container session (`code_execution_minutes` at the hourly price)
    unless the usage counted no code execution (`code_executions` 0; None: not reported)."""
    sessions = 0 if code_executions == 0 else container_sessions(body)
    return search_calls(body) * m.price_search_call_usd + sessions * m.container_session_usd


def search_calls(body: dict[str, Any]) -> int:
    """OpenAI's search-preview calls the request asks for: 1 with `web_search_options`."""
    return 0 if body.get("web_search_options") is None else 1
