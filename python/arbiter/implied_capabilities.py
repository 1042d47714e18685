"""Capabilities a model has unless its entry says otherwise.

An Anthropic-protocol model takes extended thinking and PDF documents (every current Claude
does), so a config written before the `thinking` / `pdf` capabilities existed keeps serving
such requests; a model without them is marked `no-thinking` / `no-pdf` (Claude 3 Haiku, say),
and Anthropic's model listing marks a discovered one so (listing.py). An OpenAI-protocol model
takes `logprobs` and `reasoning_effort` unless marked `no-logprobs` / `no-reasoning-effort`
(model_params.py). Other capabilities are declared, as vision."""

from __future__ import annotations

from collections.abc import Iterable

IMPLIED: dict[str, tuple[str, ...]] = {
    "anthropic": ("thinking", "pdf"),
    # the OpenAI parameters some of its models refuse (model_params.py)
    "openai": ("logprobs", "reasoning-effort"),
}


def without(capability: str) -> str:
    """The marker that says a model lacks an implied `capability`."""
    return f"no-{capability}"


def with_implied(capabilities: Iterable[str], protocol: str) -> list[str]:
    """`capabilities` and those its protocol implies that no marker refuses."""
    out = list(capabilities)
    for c in IMPLIED.get(protocol, ()):
        if c not in out and without(c) not in out:
            out.append(c)
    return out
