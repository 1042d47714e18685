"""The cost an upstream reports in its answer (`usage.cost`, OpenRouter's style), made the
request's: the answer's body is passed through to the client, so its `usage.cost` would say
what the answering call cost, not what the request did. A cascade that escalated paid the
first call too, failover's failed attempts may have been billed, and the cascade's judge call
is the request's: the client pays what `x-arbiter-cost-usd` and the decision say, so the body
says that too."""

from __future__ import annotations

import dataclasses

import orjson

from arbiter.types import ChatResult


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
