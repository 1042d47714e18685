"""An answer with fewer choices than the request's `n` asked: said to the client and recorded.

Some OpenAI-compatible servers ignore `n` and answer one choice. The answer is valid and paid
for, so it is relayed as it came (another call elsewhere would pay again, and a named model has
no elsewhere), and the client is told what it got, which the body alone does not say (a client
indexing `choices[1]` would fail with no reason): a whole answer in its `x-arbiter-choices: 1 of
2` header ("got of asked"); a stream, whose headers leave before its choices, in one last chunk
before `[DONE]` that carries no choice (`choices: []`, as the usage chunk) and the same value as
`x_arbiter_choices` (a client reading `n` choices already walks each chunk's list, so an empty
one costs it nothing; the openai SDK keeps the field in the chunk's `model_extra`). The
decision's `reason` says it too (`; 1 of 2 choices answered (n)`), whole or streamed.

An answer with more choices than `n` asked (3 for `n: 1`, the default) is cut to the first
`n` (indexes 0..n-1, what a client of OpenAI indexes), whole or streamed (a stream's stray
indexes past n-1 are dropped), and said the same way (`3 of 1`): the extra choices were paid
for, so the client and the decision learn they existed.

Legacy `/v1/completions` (passthrough.py) is told the same, counting `n` choices of each prompt
of a prompt array (`best_of`'s extra candidates are never returned; it cannot be streamed).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final

from arbiter.types import ChatRequest, ChatResult

if TYPE_CHECKING:
    from arbiter.request_plan import Plan

HEADER: Final = "x-arbiter-choices"
CHUNK_FIELD: Final = "x_arbiter_choices"


def asked(req: ChatRequest) -> int | None:
    """The request's `n` when it asks for several choices on Chat Completions, else None."""
    n = req.body.get("n") if req.protocol == "openai" else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 2 else None


def wanted(req: ChatRequest) -> int | None:
    """The choices a Chat Completions request gets: its `n`, 1 when it sets none; None on
    another surface."""
    if req.protocol != "openai":
        return None
    n = req.body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1


def short(n: int | None, got: int) -> str | None:
    """ "got of asked" when `got` choices fall short of `n`, else None."""
    return f"{got} of {n}" if n is not None and got < n else None


def off(n: int | None, got: int) -> str | None:
    """ "got of asked" when `got` choices are not the `n` asked (fewer, or more: cut), else
    None."""
    return f"{got} of {n}" if n is not None and got != n else None


def kept(req: ChatRequest, protocol: str, result: ChatResult) -> tuple[ChatResult, str | None]:
    """A whole Chat Completions answer from an OpenAI-protocol model with its choices held to
    the request's `n` (the first `n` kept when it has more), and `x-arbiter-choices`'s value
    when they were not `n` (None otherwise)."""
    n = wanted(req)
    choices = result.body.get("choices")
    if n is None or protocol != "openai" or not isinstance(choices, list):
        return result, header(req, protocol, result.body)
    if len(choices) <= n:
        return result, short(asked(req), len(choices))
    body = {**result.body, "choices": choices[:n]}
    # the upstream's bytes held the extra choices: the body is written anew
    return dataclasses.replace(result, body=body, raw=b""), off(n, len(choices))


def header(req: ChatRequest, protocol: str, body: Any) -> str | None:
    """`x-arbiter-choices`'s value for a whole Chat Completions answer from an OpenAI-protocol
    model that has fewer choices than `n`; None otherwise."""
    n = asked(req)
    if n is None or protocol != "openai":
        return None
    choices = body.get("choices") if isinstance(body, dict) else None
    return short(n, len(choices) if isinstance(choices, list) else 0)


def said(value: str | None) -> str:
    """What a decision's reason adds for a short answer ("" for none)."""
    return "" if value is None else f"; {value} choices answered (n)"


def note(plan: Plan, value: str | None) -> None:
    """The decision's reason says a short answer (before it is recorded)."""
    plan.reason += said(value)
