"""The cost an upstream reports in its answer (`usage.cost`, OpenRouter's style), made the
request's: the answer's body is passed through to the client, so its `usage.cost` would say
what the answering call cost, not what the request did. A cascade that escalated paid the
first call too, failover's failed attempts may have been billed, and the cascade's judge call
is the request's: the client pays what `x-arbiter-cost-usd` and the decision say, so the body
says that too. A surface that translates the answer (/v1/responses; /v1/messages from an
OpenAI-protocol upstream) carries that cost into its own `usage.cost` (`with_reported_cost`):
every surface then says what chat completions says."""

from __future__ import annotations

import dataclasses

import orjson

from arbiter.canonical import reported_cost as usage_cost
from arbiter.types import ChatResult


def reported_cost(body: dict[str, object]) -> float | None:
    """The body's numeric `usage.cost` (after with_request_cost: the request's), else None."""
    usage = body.get("usage")
    return usage_cost(usage) if isinstance(usage, dict) else None


def with_reported_cost(out: dict[str, object], answer: dict[str, object]) -> dict[str, object]:
    """`out` (a translated answer's body) with `answer`'s reported `usage.cost`, when it has
    one and `out` has a usage object to put it in."""
    cost, usage = reported_cost(answer), out.get("usage")
    if cost is not None and isinstance(usage, dict):
        usage["cost"] = cost
    return out


def with_request_cost(result: ChatResult, cost: float) -> ChatResult:
    """`result` with its body's `usage.cost` set to `cost` (the request's recorded cost); as it
    was when the body carries no numeric `usage.cost` or it already says `cost`."""
    usage = result.body.get("usage")
    if not isinstance(usage, dict):
        return result
    reported = usage.get("cost")
    # bool is an int to Python, never a cost
    if not isinstance(reported, int | float) or isinstance(reported, bool) or reported == cost:
        return result
    body = {**result.body, "usage": {**usage, "cost": cost}}
    # the upstream's bytes said the other cost: the body is written anew
    return dataclasses.replace(result, body=body, raw=orjson.dumps(body))
