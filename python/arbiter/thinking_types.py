"""The thinking types an Anthropic request asks for beyond manual extended thinking.

Anthropic takes thinking per type and model: `adaptive` (Claude decides how much to think) from
Claude Opus/Sonnet 4.6, thinking between tool calls (the `interleaved-thinking-*` beta header)
from Claude 4. Each is a capability (implied_capabilities.py: by the model's family where
Anthropic documents it, markable `no-...` in config): `auto` routes such a request only to
models that have it, and a named model without it is a 400 naming the type (request_checks).
Read only when the request asks for thinking at all (`wants_thinking`).
"""

from __future__ import annotations

from typing import Any, Final

from arbiter import request_log
from arbiter.implied_capabilities import ADAPTIVE, INTERLEAVED

_INTERLEAVED_BETA: Final = "interleaved-thinking-"


def asked(body: dict[str, Any]) -> list[str]:
    """The thinking-type capabilities this thinking request needs (the client's anthropic-beta
    header read from the request's context)."""
    out = []
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "adaptive":
        out.append(ADAPTIVE)
    ctx = request_log.CURRENT.get()
    beta = ctx.anthropic_beta if ctx is not None else None
    if beta is not None and any(b.strip().startswith(_INTERLEAVED_BETA) for b in beta.split(",")):
        out.append(INTERLEAVED)
    return out
