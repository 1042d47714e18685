"""Responses API fields (the openai SDK's ResponseCreateParams) that ask for something only
OpenAI's own service does: refused by name as not supported by this gateway, never as an unknown
parameter (they are the spec's) and never dropped (the caller would believe they took effect).

- `moderation`: OpenAI runs a moderation model on the input and output and may block the answer;
  Arbiter runs none, and an answer that was not screened must not look screened.
- `context_management`: OpenAI compacts a long conversation server-side; Arbiter keeps no state
  and cannot, so the input would silently stay whole (or meet a context-window refusal).
- `prompt_cache_options`: a cache hint, typed as the spec types it and otherwise ignored (it
  only changes what OpenAI bills), except what changes the answer
  or needs a stored response: `prewarm: true` (no answer is generated) and
  `comparison_response_id` (names a stored response; Arbiter keeps none).
"""

from __future__ import annotations

from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.protocols import _check as c

__all__ = ["CHECKED", "check_gateway_fields"]

CHECKED = frozenset({"moderation", "context_management", "prompt_cache_options"})
_CACHE_FIELDS = frozenset({"comparison_response_id", "mode", "prewarm", "ttl"})
_WHY = {
    "moderation": "Arbiter runs no moderation model on the input or output",
    "context_management": "Arbiter keeps no conversation state and compacts nothing",
}


def check_gateway_fields(body: dict[str, Any]) -> None:
    for key, why in _WHY.items():
        if body.get(key) is not None:
            raise InvalidRequest(
                f"'{key}' is not supported by this gateway: {why}. Leave it out.", param=key
            )
    if body.get("prompt_cache_options") is not None:  # null: left out, as for every field
        _cache_options(body["prompt_cache_options"])


def _cache_options(value: Any) -> None:
    where = "prompt_cache_options"
    options = c.obj(value, where)
    for key in options:
        if key not in _CACHE_FIELDS:
            raise InvalidRequest(
                f"Unknown parameter: '{where}.{key[:64]}'.", param=f"{where}.{key}"
            )
    c.opt_choice(options.get("mode"), f"{where}.mode", ("implicit", "explicit"))
    c.opt_choice(options.get("ttl"), f"{where}.ttl", ("30m", "12h"))
    if c.opt_bool(options.get("prewarm"), f"{where}.prewarm"):
        raise InvalidRequest(
            f"'{where}.prewarm' is not supported by this gateway: it answers every request "
            "it routes (a prewarm request generates nothing). Leave it out.",
            param=f"{where}.prewarm",
        )
    if c.opt_string(options.get("comparison_response_id"), f"{where}.comparison_response_id"):
        raise InvalidRequest(
            f"'{where}.comparison_response_id' is not supported by this gateway: Arbiter keeps "
            "no responses to compare with.",
            param=f"{where}.comparison_response_id",
        )
