"""Sampling parameters a model refuses together: `temperature` with `top_p`.

Anthropic's Claude Sonnet 4.5, Haiku 4.5 and Opus 4.5 (and Opus 4.1) answer 400 to a request
that sets both ("use only temperature OR top_p, not both": Anthropic's migration guide to Claude
4.5); earlier Claude models and OpenAI's take both. The operator marks such a model with the
ONE_SAMPLER capability. Passed through, the request would be reserved for and then fail
upstream; instead such a model is not eligible for it (`auto` routes to a model that takes
both, the decision saying why), and naming one is a 400 naming the conflict before anything is
reserved. Both surfaces put the two fields at the body's top level (Chat Completions, Messages,
Responses); a null is the default, not a setting. `arbiter check-config` warns of a configured
model whose upstream name is one of those Claude models without the capability.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

from arbiter.errors import InvalidRequest

ONE_SAMPLER: Final = "temperature-or-top-p"
WHY: Final = f"takes temperature or top_p, not both (`{ONE_SAMPLER}`)"
# the model names Anthropic's migration guide (and its 400s) put under the rule, as they appear
# in Anthropic's, Bedrock's (anthropic.claude-sonnet-4-5-...) and OpenRouter's (claude-sonnet-4.5)
_REFUSING = tuple(
    f"{family}-4{sep}{minor}"
    for family, minor in (("sonnet", 5), ("haiku", 5), ("opus", 5), ("opus", 1))
    for sep in "-."
)


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


def undeclared(models: Iterable[Any]) -> list[str]:
    """check-config's warnings: configured models whose upstream name is a Claude model that
    refuses the pair, without the ONE_SAMPLER capability (the pair would fail upstream)."""
    out = []
    for m in models:
        upstream = (m.upstream_model or m.name).lower()
        refuses = "claude" in upstream and any(family in upstream for family in _REFUSING)
        if refuses and ONE_SAMPLER not in m.capabilities:
            out.append(
                f"models.{m.name}: {upstream} refuses `temperature` with `top_p` (a 400 after "
                f'the reservation); add "{ONE_SAMPLER}" to its capabilities so such requests '
                "go to another model (or get a 400 naming the conflict when it is named)"
            )
    return out
