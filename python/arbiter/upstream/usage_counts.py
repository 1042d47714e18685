"""An upstream's usage counts read as a bill: which counts are counts, which side of the call a
usage left out, and what an answer that did not finish may be billed by (split from http.py:
the protocols' parsers, upstream/openai.py and upstream/anthropic.py, read through these)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from arbiter.canonical import MAX_CALL_TOKENS
from arbiter.types import Usage

PROMPT_WINDOWS = 4  # prompt_ratio.CEILING: a prompt that fits, counted by any tokenizer


def token_count(value: Any) -> int:
    """A token count as billed: a positive integer up to MAX_CALL_TOKENS, else none (0). A
    negative count priced as it came would be a credit: the settle would take it off the cap's
    spend."""
    plain = isinstance(value, int) and not isinstance(value, bool)
    return value if plain and 0 < value <= MAX_CALL_TOKENS else 0


def counts_believable(usage: Mapping[str, Any], keys: Iterable[str]) -> bool:
    """False when any of `keys` holds what is no count (negative, a string, a fraction, past
    MAX_CALL_TOKENS; absent or null is 0). One such count makes the whole usage not reported:
    the others priced alone bill part of the call (an answer whose output count lies would cost
    its prompt alone), so the call is priced as one without usage."""
    for key in keys:
        value = usage.get(key)
        if value is None:
            continue
        plain = isinstance(value, int) and not isinstance(value, bool)
        if not (plain and 0 <= value <= MAX_CALL_TOKENS):
            return False
    return True


def missing_sides(
    usage: Mapping[str, Any], inputs: tuple[str, ...], output: str
) -> tuple[bool, bool]:
    """(the input side missing, the output side missing) of a usage: a side is given when its
    keys count something (`inputs`: every count of the prompt, an Anthropic usage's cache
    reads and writes too: they are input). A side left out (absent or null) priced as 0 billed
    the call as if it cost nothing there; a usage with neither (none at all) misses both. So
    does a side counted 0 (probe23b): no prompt is 0 tokens, and an output count of 0 beside
    the answer's text (a gateway's or a lenient server's placeholder) billed the call on its
    prompt alone; an answer truly empty is counted 0 from what it relayed all the same, and
    that 0 raises no alert (counted_zero, dropped_usage.counted_empty).
    What a missing side costs is Arbiter's count, for an answer that finished (`of_answer`)."""
    given_in = any(token_count(usage.get(key)) > 0 for key in inputs)
    return not given_in, token_count(usage.get(output)) == 0


def counted_zero(usage: Mapping[str, Any], output: str) -> bool:
    """The usage counted its output 0 (not left out): true of an answer that relayed no text,
    a placeholder beside one that did (missing_sides)."""
    value = usage.get(output)
    return value == 0 and isinstance(value, int) and not isinstance(value, bool)


def of_answer(usage: Usage, finished: bool) -> Usage:
    """`usage` as the bill of an answer that `finished` (ended properly: every choice's finish
    reason given, a Message's stop reason, a stream's end) or did not. What a usage lacks (a
    side, counts that are no counts, all of it) is counted by Arbiter from what was relayed
    only for a finished answer (dropped_usage.py); of one that did not finish, nothing says
    what the upstream generated past what reached us: none of its counts is believed and the
    call keeps its worst case (a cost the upstream reported is still its bill).

    A whole usage (both sides, believable) is the bill finished or not: it is the upstream's
    own count of all it generated, what it charges, past what reached us included. So an
    OpenAI stream that ends with `[DONE]` and its usage but no finish reason (vLLM/Ollama-style
    servers that leave it null) is billed by that usage, though the stream itself fails (a
    stream without a finish reason is no finished answer: its error event, a failed decision);
    only the counts Arbiter would have to make itself wait on a finished answer."""
    if finished or not (usage.counts_dropped or usage.one_sided):
        return usage
    return Usage(reported_cost_usd=usage.reported_cost_usd)


def within_limit(usage: Usage, limit: int, prompt_limit: int) -> Usage:
    """`usage`, its counts dropped when it counted more output than `limit`, the most the call
    could generate (every choice at the output limit it was sent, reasoning and thinking
    included), or a prompt past `prompt_limit` (`prompt_bound`): no server generates or reads
    past them, so the count is no bill (probe23b: 10^7 output tokens said of a call sent max_tokens
    20 were charged $20,000; 10^7 prompt tokens said of "hi", $10,000). The answer is then
    priced from what it relayed, as an absurd count's is (dropped_usage.py)."""
    if usage.counts_dropped or (
        usage.completion_tokens <= limit and usage.prompt_tokens <= prompt_limit
    ):
        return usage
    return dataclasses.replace(
        usage, prompt_tokens=0, completion_tokens=0, cache_read_tokens=0,
        cache_write_tokens=0, counts_dropped=True, prompt_missing=False, output_missing=False,
    )  # fmt: skip


def call_limits(
    max_output_tokens: int, context_window: int, choices: int, max_tokens: int | None
) -> tuple[int, int]:
    """(the most output a call could bill, every choice at its limit; the most prompt tokens),
    what a usage shown to the client is held to (relayed_usage.py), as within_limit holds the
    bill."""
    return choices * (max_tokens or max_output_tokens), prompt_bound(context_window)


def prompt_bound(context_window: int, counted: int = 0) -> int:
    """The most prompt tokens an upstream can count for a call: PROMPT_WINDOWS times the larger
    of the model's context window (a prompt that fits it) and `counted`, ours (a pass-through
    batch of embeddings inputs or prompts, each within the window): no tokenizer counts text 4x
    longer than o200k (prompt_ratio.py)."""
    return PROMPT_WINDOWS * max(context_window, counted, 1)
