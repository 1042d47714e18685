"""Sampling parameters a model refuses together: `temperature` with `top_p`.

Anthropic's Claude Sonnet 4.5, Haiku 4.5 and Opus 4.5 (and Opus 4.1) answer 400 to a request
that sets both ("use only temperature OR top_p, not both": Anthropic's migration guide to Claude
4.5); earlier Claude models and OpenAI's take both. The operator marks such a model with the
ONE_SAMPLER capability. Passed through, the request would be reserved for and then fail
upstream; instead such a model is not eligible for it (`auto` routes to a model that takes
both, the decision saying why), and naming one is a 400 naming the conflict before anything is
reserved. Both surfaces put the two fields at the body's top level (Chat Completions, Messages,
Responses); a null is the default, not a setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

from arbiter.errors import InvalidRequest

ONE_SAMPLER: Final = "temperature-or-top-p"
WHY: Final = f"takes temperature or top_p, not both (`{ONE_SAMPLER}`)"


class _Model(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def capabilities(self) -> Iterable[str]: ...


def sets_both(body: Mapping[str, Any]) -> bool:
    return body.get("temperature") is not None and body.get("top_p") is not None


def blocks(
    body: Mapping[str, Any], models: Iterable[_Model], blocked: dict[str, str] | None
) -> dict[str, str] | None:
    """`blocked` (the pipeline's models ruled out, with why) plus the ONE_SAMPLER models when
    the request sets both; `blocked` itself when it does not."""
    if not sets_both(body):
        return blocked
    refused = {m.name: WHY for m in models if ONE_SAMPLER in m.capabilities}
    return {**refused, **(blocked or {})} if refused else blocked


def check_named(body: Mapping[str, Any], model: _Model) -> None:
    """A request naming a ONE_SAMPLER model that sets both: the caller's 400, naming `top_p`."""
    if sets_both(body) and ONE_SAMPLER in model.capabilities:
        raise InvalidRequest(
            f"The model `{model.name}` does not take `temperature` and `top_p` together (it "
            f"has the `{ONE_SAMPLER}` capability): send only one of them.",
            param="top_p",
        )
