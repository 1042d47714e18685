"""Synthetic outcome tables shared by the replay tests (in process and through the sidecar)."""

from __future__ import annotations


def essay_or_question(i: int) -> tuple[bool, str]:
    """Row i's prompt: an essay request on even rows (long answers), a yes/no question on odd
    ones (answers of a few tokens). Returns (is_essay, prompt)."""
    if i % 2 == 0:
        return True, (
            f"Write a long, detailed essay with sections and examples about topic {i}, covering "
            "its history, its causes, its effects and what experts disagree about."
        )
    return False, f"Is {i} even?"
