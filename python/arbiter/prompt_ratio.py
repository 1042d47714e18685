"""How much longer each model's upstream counts a prompt than the budget's tokenizer does.

A reservation counts the prompt with OpenAI's o200k tokenizer (worst_case.py); the upstream bills
its own count, which for Claude's tokenizer or a vLLM serving Mistral or Llama-2 runs 1.2-2x
longer on code and non-English text. Each call admitted so costs more than its hold, and a
burst admitted together passed a cap by the sum of those differences (probe22b: 2.2 worst cases
with a 1.3x tokenizer). So every answered call whose usage gave a prompt count teaches its
model's ratio (the upstream's count over ours, kept when above 1), and the worst case reserves
the prompt at the largest ratio of the model's last `WINDOW` calls. Per process: each replica
and worker learns from its own calls, from its first answered one.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 64  # calls per model: a tokenizer change (a new model behind the name) ages out
CEILING = 4.0  # no tokenizer counts text 4x o200k: a count past it is no tokenizer's


class PromptRatios:
    """Per model, the largest ratio (1 .. `ceiling`) of the last `WINDOW` calls' billed figure
    to ours. Prompts' counts here; cost_ratio.py keeps a call's reported cost to its usage's
    price in one too."""

    def __init__(self, ceiling: float = CEILING) -> None:
        self._ceiling = ceiling
        self._seen: dict[str, deque[float]] = {}
        self._top: dict[str, float] = {}

    def factor(self, model: str) -> float:
        """The ratio `model`'s prompts are reserved at (1.0 until a call says more)."""
        return self._top.get(model, 1.0)

    def observe(self, model: str, counted: float, billed: float) -> None:
        """One call's prompt: `counted` by the budget's tokenizer, `billed` by the upstream."""
        if not counted > 0 or not billed > 0:
            return
        ratio = max(1.0, min(billed / counted, self._ceiling))
        seen = self._seen.get(model)
        if seen is None:
            seen = self._seen[model] = deque(maxlen=WINDOW)
        dropped = seen[0] if len(seen) == WINDOW else 1.0
        seen.append(ratio)
        top = self._top.get(model, 1.0)
        if ratio >= top:
            self._top[model] = ratio
        elif dropped >= top:  # the largest aged out: the window's own largest now
            self._top[model] = max(seen)


def scaled(tokens: int, ratio: float) -> int:
    """`tokens` counted by o200k, as an upstream counting `ratio` times longer would (never
    fewer)."""
    return tokens + math.ceil(tokens * (ratio - 1.0)) if ratio > 1.0 else tokens
