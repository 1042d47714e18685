"""Capabilities a model has unless its entry says otherwise.

An Anthropic-protocol model takes extended thinking and PDF documents (every current Claude
does), so a config written before the `thinking` / `pdf` capabilities existed keeps serving
such requests; a model without them is marked `no-thinking` / `no-pdf` (Claude 3 Haiku, say),
and Anthropic's model listing marks a discovered one so (listing.py). An OpenAI-protocol model
takes `logprobs` and `reasoning_effort` unless marked `no-logprobs` / `no-reasoning-effort`
(model_params.py). Other capabilities are declared, as vision.

Anthropic lists thinking support per type: `thinking` is the manual type (`enabled`, with
`budget_tokens`); `adaptive-thinking` the `adaptive` type, `interleaved-thinking` thinking
between tool calls (the `interleaved-thinking-*` beta header). Both are implied on an
Anthropic-protocol model unless its upstream name is of a family Anthropic documents without
them (`adaptive`: before Claude Opus/Sonnet 4.6; interleaved: Claude 3): a name Arbiter does
not know keeps them (the upstream decides, as before), a marker (`no-adaptive-thinking`)
refuses them, and a declared one wins over the family's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

IMPLIED: dict[str, tuple[str, ...]] = {
    "anthropic": ("thinking", "pdf", "adaptive-thinking", "interleaved-thinking"),
    # the OpenAI parameters some of its models refuse (model_params.py)
    "openai": ("logprobs", "reasoning-effort"),
}


def without(capability: str) -> str:
    """The marker that says a model lacks an implied `capability`."""
    return f"no-{capability}"


ADAPTIVE: Final = "adaptive-thinking"
INTERLEAVED: Final = "interleaved-thinking"
# upstream-name prefixes of the Claude families Anthropic documents without a thinking type
_LACKS: Final = {
    ADAPTIVE: ("claude-3", "claude-opus-4-0", "claude-opus-4-1", "claude-opus-4-5",
               "claude-opus-4-2025", "claude-sonnet-4-0", "claude-sonnet-4-5",
               "claude-sonnet-4-2025", "claude-haiku-4-5"),
    INTERLEAVED: ("claude-3",),
}  # fmt: skip


def with_implied(
    capabilities: Iterable[str], protocol: str, upstream_name: str | None = None
) -> list[str]:
    """`capabilities` and those its protocol implies that no marker refuses, nor the family
    of `upstream_name` (the model's name upstream) lacks."""
    out = list(capabilities)
    family = _family(upstream_name or "")
    for c in IMPLIED.get(protocol, ()):
        if c not in out and without(c) not in out and not family.startswith(_LACKS.get(c, ())):
            out.append(c)
    return out


def _family(upstream_name: str) -> str:
    """The name from its `claude-` on: a provider's prefix left out (OpenRouter's
    `anthropic/`, Bedrock's `us.anthropic.`)."""
    name = upstream_name.lower()
    at = name.find("claude-")
    return name[at:] if at >= 0 else name
