"""OpenAI parameters some OpenAI-protocol models refuse: `logprobs` and `reasoning_effort`.

OpenAI's reasoning models (o1, o3, o4-mini, gpt-5) answer `logprobs` / `top_logprobs` with a 400
`unsupported_parameter`; its other chat models (gpt-4o, gpt-4.1) answer `reasoning_effort` so.
Each is a capability (`logprobs`, `reasoning-effort`) an OpenAI-protocol model has unless its
entry marks it `no-logprobs` / `no-reasoning-effort` (implied_capabilities.py: a config written
before them keeps serving such requests), and discovery marks an OpenRouter-style listing whose
`supported_parameters` leave them out. A model without one is not eligible for a request that
sets it (`auto` routes past it instead of spending a refused call on it: failover.not_this_model
stays for the unmarked), and naming one is a 400 naming the parameter before anything is
reserved: the operator said the model refuses it, and its upstream would. `reasoning_effort:
"none"` (no reasoning: what such a model does unasked) needs nothing and is not sent to it.
Only a body relayed in OpenAI's protocol is checked: the other protocol's crossing rules
(protocols/compat.py) already refuse or drop these fields. `check-config` warns of an OpenAI
model, by its upstream name, configured without its marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

from arbiter.errors import InvalidRequest

LOGPROBS: Final = "logprobs"
REASONING_EFFORT: Final = "reasoning-effort"
# what each capability lets a request ask for, in a named model's refusal
_ASKS = {LOGPROBS: "log-probabilities", REASONING_EFFORT: "a reasoning effort"}
# the upstream names OpenAI's refusals come from: reasoning models take no logprobs (gpt-5's
# chat variants are not reasoning models), the others no reasoning_effort
_REASONING = ("o1", "o3", "o4", "gpt-5")
_NOT_REASONING = ("gpt-4o", "gpt-4.1", "gpt-4-", "gpt-3.5", "chatgpt-4o", "gpt-5-chat")


class _Model(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def capabilities(self) -> Iterable[str]: ...


def asked(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(capability, the field that asks for it) for each this OpenAI-form body sets."""
    out = []
    if body.get("logprobs") is True:
        out.append((LOGPROBS, "logprobs"))
    elif body.get("top_logprobs") is not None:
        out.append((LOGPROBS, "top_logprobs"))
    effort = body.get("reasoning_effort")
    if effort is not None and effort != "none":
        out.append((REASONING_EFFORT, "reasoning_effort"))
    return out


def blocks(
    body: Mapping[str, Any],
    models: Iterable[_Model],
    relayed: Callable[[str], bool],
    blocked: dict[str, str] | None,
    named: Callable[[str], str] = str,
) -> dict[str, str] | None:
    """`blocked` plus the models `relayed(name)` (sent this body in OpenAI's form) that lack
    a capability the body asks for, each with why (the field as `named` names it)."""
    needs = asked(body)
    if not needs:
        return blocked
    refused = {}
    for m in models:
        caps = set(m.capabilities)
        missing = [(cap, field) for cap, field in needs if cap not in caps]
        if missing and relayed(m.name):
            cap, field = missing[0]
            refused[m.name] = f"does not take `{named(field)}` (`no-{cap}`)"
    return {**refused, **(blocked or {})} if refused else blocked


def check_named(body: Mapping[str, Any], model: _Model, named: Callable[[str], str] = str) -> None:
    """A request naming a model (relayed in OpenAI's form) that lacks what it asks for: the
    caller's 400 naming the field (`named`: as the caller's surface names it: the Responses
    API's `reasoning.effort`), before anything is reserved."""
    caps = set(model.capabilities)
    for cap, field in asked(body):
        if cap not in caps:
            field = named(field)
            raise InvalidRequest(
                f"The model `{model.name}` does not take `{field}` ({_ASKS[cap]}): its entry "
                f"marks it `no-{cap}`. Leave `{field}` out or use a model that takes it.",
                param=field,
            )


def untaken(body: Mapping[str, Any], models: Iterable[_Model]) -> str | None:
    """The first field the body sets that no model of `models` takes (None: each is taken)."""
    caps = [set(m.capabilities) for m in models]
    for cap, field in asked(body):
        if not any(cap in c for c in caps):
            return field
    return None


def sent_body(body: dict[str, Any], capabilities: Iterable[str]) -> dict[str, Any]:
    """The body for a model: without `reasoning_effort: "none"` when it takes no effort."""
    if body.get("reasoning_effort") == "none" and REASONING_EFFORT not in set(capabilities):
        return {k: v for k, v in body.items() if k != "reasoning_effort"}
    return body


def undeclared(models: Iterable[Any], protocol_of: Callable[[Any], str]) -> list[str]:
    """check-config's warnings: an OpenAI-protocol model whose upstream name is one of OpenAI's
    that refuses a parameter, without its marker (a refused call before failover)."""
    out = []
    for m in models:
        if protocol_of(m) != "openai":
            continue
        upstream = (m.upstream_model or m.name).lower().rsplit("/", 1)[-1]
        not_reasoning = upstream.startswith(_NOT_REASONING)
        reasoning = not not_reasoning and upstream.startswith(_REASONING)
        for refuses, cap, field in (
            (reasoning, LOGPROBS, "logprobs"),
            (not_reasoning, REASONING_EFFORT, "reasoning_effort"),
        ):
            if refuses and cap in m.capabilities:
                out.append(
                    f"models.{m.name}: {upstream} refuses `{field}` (a refused call before "
                    f'another model is tried); add "no-{cap}" to its capabilities so such '
                    "requests go to another model (or get a 400 naming it when it is named)"
                )
    return out
