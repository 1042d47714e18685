"""Which routed models cannot write as many tokens as a request's max_tokens asks for.

A provider refuses a max_tokens over the model's own output limit (OpenAI: "max_tokens is too
large"), so `auto` must not send such a request to a model whose `max_output_tokens` is lower
while another model could take it. The configured limit may be a default rather than the
provider's figure, so when no allowed model is known to fit, nothing is ruled out and the request
goes where it went before: the limit steers the choice, it never turns a request away.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


class OutputLimits:
    """The routed pool's output limits, rebuilt with the pool (services.py)."""

    def __init__(self, limits: Iterable[tuple[str, int]]) -> None:
        self._limits = dict(limits)
        # a max_tokens within every model's limit (the common case) is answered without a loop
        self._floor = min(self._limits.values(), default=0)

    def blocks(
        self, max_tokens: int | None, allowed: Collection[str] | None
    ) -> dict[str, str] | None:
        """The models (as router `blocked` reasons) whose output limit is under `max_tokens`,
        when some allowed model's is not; None when nothing is to be ruled out."""
        if max_tokens is None or max_tokens <= self._floor:
            return None
        short: dict[str, str] = {}
        fits = False
        for name, limit in self._limits.items():
            if allowed is not None and name not in allowed:
                continue
            if limit < max_tokens:
                short[name] = f"max output {limit} < max_tokens {max_tokens}"
            else:
                fits = True
        return short if fits and short else None
