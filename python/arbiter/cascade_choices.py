"""The cascade's check of an answer with several choices (n > 1): every choice is read.

An upstream answer's `content` and `finish_reason` are its first choice's, and the cascade's
rules (cascade.py, cascade_gain.py, the judge's hard checks) read those: a cheap answer whose
first choice was fine and whose second was a refusal, empty or cut off was kept, served and
billed as a good one. Each later choice goes through the same rule; the first weak one
escalates the whole answer (the strong model answers all `n`). The in-request judge still
grades the first choice only (one judge call per request): the later ones get its hard checks.
Pure; the caller keeps long answers off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arbiter.answer_choices import Choice
from arbiter.cascade import Escalate
from arbiter.types import ChatResult


def several_choices(result: ChatResult) -> bool:
    """Whether an upstream answer has more than one choice (an OpenAI-shaped body; Anthropic's
    has one): a look at the list's length, before any choice is parsed."""
    choices = result.body.get("choices") if isinstance(result.body, Mapping) else None
    return isinstance(choices, list) and len(choices) > 1


def later_choices_escalation(
    rule: Escalate,
    task: str,
    prompt: str,
    choices: Sequence[Choice],
    response_format: Mapping[str, Any] | None,
) -> tuple[bool, str] | None:
    """(True, why) for the first choice after the first that `rule` escalates (why names it,
    counted from 1); None when each of them passes, or there is only one."""
    for number, choice in enumerate(choices[1:], start=2):
        escalate, why = rule(task, prompt, choice.text, choice.finish_reason, response_format)
        if escalate:
            return True, f"choice {number}: {why}"
    return None
