"""How many more tokens each model's upstream bills for a prompt than the budget's tokenizer
counts: a fixed part and a ratio, `billed ~ fixed + ratio x counted`.

A reservation counts the prompt with OpenAI's o200k tokenizer (worst_case.py); the upstream bills
its own count, which for Claude's tokenizer or a vLLM serving Mistral or Llama-2 runs 1.2-2x
longer on code and non-English text, and to which some add a fixed part to every request
(Anthropic's tool-use system prompt: hundreds of tokens whenever tools are sent). Each call
admitted short costs more than its hold, and a burst admitted together passed a cap by the sum
of those differences (probe22b: 2.2 worst cases with a 1.3x tokenizer). So every answered call
whose usage gave a prompt count teaches its model's line, fitted over its last `WINDOW` calls.

The line lies above every call of the window (never under-reserving what was seen): its slope
is the upper hull's edge over the window's mean count, at least 1 and at most CEILING, and its
fixed part the least that covers every call. A multiplicative ratio read a short prompt's fixed
overhead as a ratio (50 tokens billed as 400: 8x, held at 4x) and reserved every longer prompt
at it: over-cautious holds, extra 429s near caps. Per process: each replica and worker learns
from its own calls, from its first answered one; each writes its lines to the store at the policy
sync and a process starting reads them (store/prompt_fits.py, the largest over replicas): a
restarted sidecar's first burst holds at them, until its own first answer of the model refits
the line from its own calls.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

WINDOW = 64  # calls per model: a tokenizer change (a new model behind the name) ages out
CEILING = 4.0  # no tokenizer counts text 4x o200k: a count past it is no tokenizer's
MAX_FIXED = 8192  # nor adds more than this to each prompt (tool prompts: hundreds to thousands)
_REFIT_EVERY = WINDOW  # calls between refits that let the line come down as the window moves
_FEW = 16  # up to this many calls each one refits (a fit costs ~0.1 ms over a full window)


class Fit(NamedTuple):
    fixed: float
    ratio: float

    def at(self, counted: int) -> int:
        return max(counted, math.ceil(self.fixed + self.ratio * counted - 1e-9))


ONE = Fit(0.0, 1.0)  # nothing learnt: o200k's count


class PromptRatios:
    def __init__(self) -> None:
        self._seen: dict[str, deque[tuple[int, int]]] = {}
        self._fit: dict[str, Fit] = {}
        self._since: dict[str, int] = {}  # calls since the last refit
        self._changed: set[str] = set()  # models whose line changed since `take_changed`

    def seed(self, fits: dict[str, tuple[float, float]]) -> None:
        """Lines learnt by earlier processes (store/prompt_fits.py), held for the models this
        one has no call of yet: its first answered call refits from its own."""
        for model, (fixed, ratio) in fits.items():
            if model in self._seen:
                continue
            fixed = min(max(fixed, 0.0), float(MAX_FIXED))
            self._fit[model] = Fit(fixed, min(max(ratio, 1.0), CEILING))

    def take_changed(self) -> list[tuple[str, float, float]]:
        """(model, fixed, ratio) of every line refitted since the last call (to share)."""
        changed, self._changed = self._changed, set()
        return [(m, *self._fit[m]) for m in sorted(changed) if m in self._fit]

    def unsent(self, fits: list[tuple[str, float, float]]) -> None:
        """Lines `take_changed` gave whose write failed: sent at the next sync."""
        self._changed.update(m for m, _, _ in fits)

    def fit(self, model: str) -> Fit:
        """`model`'s line (ONE until a call says more)."""
        return self._fit.get(model, ONE)

    def tokens(self, model: str, counted: int) -> int:
        """What `model`'s upstream is reserved to bill for a prompt o200k counts `counted`."""
        return self._fit.get(model, ONE).at(counted)

    def observe(self, model: str, counted: int, billed: int) -> None:
        """One call's prompt: `counted` by the budget's tokenizer, `billed` by the upstream."""
        if counted <= 0 or billed <= 0:
            return
        billed = max(counted, min(billed, math.ceil(CEILING * counted) + MAX_FIXED))
        seen = self._seen.get(model)
        if seen is None:
            seen = self._seen[model] = deque(maxlen=WINDOW)
        dropped = seen[0] if len(seen) == WINDOW else None
        seen.append((counted, billed))
        fit = self._fit.get(model, ONE)
        since = self._since.get(model, 0) + 1
        if (
            fit.at(counted) < billed  # not covered: the line must rise now
            or (dropped is not None and fit.at(dropped[0]) <= dropped[1])  # a support aged out
            or since >= _REFIT_EVERY
            or len(seen) <= _FEW  # a few calls: each one reshapes the line
        ):
            refit, since = fit_line(seen), 0
            if refit != fit:
                self._changed.add(model)
            self._fit[model] = refit
        self._since[model] = since


def fit_line(points: Sequence[tuple[int, int]]) -> Fit:
    """The line over every (counted, billed) point, tight at their mean count (see above)."""
    hull: list[tuple[int, int]] = []  # the upper hull, left to right (one point per count)
    for c, y in sorted(points):
        if hull and hull[-1][0] == c:
            hull.pop()  # sorted: this one bills at least as much
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], (c, y)) >= 0:
            hull.pop()
        hull.append((c, y))
    if len(hull) == 1:  # one count seen: no slope to read, so a ratio (as before), then fixed
        c, y = hull[0]
        ratio = min(y / c, CEILING)
    else:
        mean = sum(c for c, _ in points) / len(points)
        edge = next((i for i in range(len(hull) - 1) if hull[i + 1][0] >= mean), len(hull) - 2)
        (c0, y0), (c1, y1) = hull[edge], hull[edge + 1]
        ratio = min(max((y1 - y0) / (c1 - c0), 1.0), CEILING)
    fixed = max(0.0, max(y - ratio * c for c, y in points))
    return Fit(fixed, max(ratio, 1.0))


def _cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> float:
    """> 0 when o -> a -> b turns left (a lies below the chord o-b: not on the upper hull)."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def scaled(tokens: int, ratio: float) -> int:
    """`tokens` counted by o200k, as an upstream counting `ratio` times longer would (never
    fewer)."""
    return tokens + math.ceil(tokens * (ratio - 1.0)) if ratio > 1.0 else tokens
