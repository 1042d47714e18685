"""A prompt's text statistics, shape and difficulty score, as planning reads them.

All three are linear in the prompt (the Rust features pass, and for knowledge_embed the static
embedding's tokenizer), ~45 ms of CPU at 1 MB of CJK on the shared dev box: on the event loop
that stalls every request in flight. A prompt over OFF_LOOP_CHARS is scored in a worker thread
(the Rust pass lets go of the GIL there); a shorter one inline, where a thread hand-off would
cost more than the work (bench/loop_time_by_prompt_size.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arbiter.difficulty import prompt_stats_and_shape

if TYPE_CHECKING:
    from arbiter.difficulty import Difficulty

# ~1.5 ms of the features pass at the dev box's slowest (CJK) rate: inline below, a thread above
OFF_LOOP_CHARS = 32 * 1024


@dataclass(frozen=True, slots=True)
class PromptScore:
    stats: bytes  # difficulty.prompt_stats: the 16 text statistics
    shape: bytes  # its hashed words (difficulty.prompt_stats_and_shape)
    easiness: float | None  # the difficulty model's score; None without one (or not routed)


def score(text: str, difficulty: Difficulty | None) -> PromptScore:
    """One features pass over `text`; the model, when given, reads that pass's row."""
    stats, shape = prompt_stats_and_shape(text)
    easiness = difficulty.easiness_of(stats, text, shape) if difficulty is not None else None
    return PromptScore(stats, shape, easiness)


async def score_if_long(text: str, difficulty: Difficulty | None) -> PromptScore | None:
    """`score` in a worker thread when `text` is over OFF_LOOP_CHARS; None for a shorter one
    (the caller scores it inline)."""
    if len(text) <= OFF_LOOP_CHARS:
        return None
    return await asyncio.to_thread(score, text, difficulty)
