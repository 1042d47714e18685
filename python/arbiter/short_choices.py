"""An answer with fewer choices than the request's `n` asked: said in a header.

Some OpenAI-compatible servers ignore `n` and answer one choice. The answer is valid and paid
for, so it is relayed as it came (another call elsewhere would pay again, and a named model has
no elsewhere); its `x-arbiter-choices: 1 of 2` tells the client what it got, which the body
alone does not (a client indexing `choices[1]` would fail with no reason). A whole answer only:
a stream's headers go before its choices, which the client counts by their `index`.
"""

from __future__ import annotations

from typing import Any, Final

from arbiter.types import ChatRequest

HEADER: Final = "x-arbiter-choices"


def header(req: ChatRequest, protocol: str, body: Any) -> str | None:
    """`x-arbiter-choices`'s value ("got of asked") for a whole Chat Completions answer from
    an OpenAI-protocol model that has fewer choices than `n`; None otherwise."""
    asked = req.body.get("n") if req.protocol == "openai" else None
    if not isinstance(asked, int) or asked < 2 or protocol != "openai":
        return None
    choices = body.get("choices") if isinstance(body, dict) else None
    got = len(choices) if isinstance(choices, list) else 0
    return f"{got} of {asked}" if got < asked else None
