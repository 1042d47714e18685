"""The usage a client reads in an answer relayed in its upstream's own format: the upstream's when
it is a well-formed count, else Arbiter's own count of the same call.

An upstream that leaves `usage` out (a lenient compatible server, a gateway that strips it) or
reports a count that is no count (negative, not an integer, past MAX_CALL_TOKENS) had its answer
relayed as it came: an Anthropic Message, its message_start or message_delta event, or an
embeddings list without the `usage` their APIs require (the SDKs' own types refuse them), or a
negative token count (or 10^13) shown to the caller in any of them or in a chat completion (whose
usage is optional: one left out stays out). The call was already priced without believing it
(budget.billed_cost); the client now reads Arbiter's counts in its place: the prompt counted with
the budget tokenizer, the answer estimated from its text, as the decision records them. One
bad count replaces the whole usage, as one lying count makes the whole usage not reported.

So does a count past what the call could bill (an output count past every choice's output limit,
a prompt past prompt_bound: usage_counts.within_limit), on chat, pass-through completions and
Anthropic's Messages, whole or streamed: billed from Arbiter's counts, it was
shown to the client as the upstream sent it (10^7 output tokens said of a call sent max_tokens
20); the client now reads the counts it was billed by, as for a count that is no count. An answer
re-encoded from the canonical form (the Responses API's, whole and streamed; chat or Messages
translated from the other protocol) is held to the same limits (`canonical_shown`).
"""

from __future__ import annotations

from typing import Any

from arbiter.canonical import CanonicalUsage
from arbiter.upstream.http import MAX_CALL_TOKENS


def is_count(value: Any) -> bool:
    """A token count a client can read as one: an integer from 0 to MAX_CALL_TOKENS (`type is
    int`: a bool is none, and the check stays cheap on every relayed answer)."""
    return type(value) is int and 0 <= value <= MAX_CALL_TOKENS


def surely_fine(decoded: int) -> bool:
    """A stream decoder's count (0 where the upstream's was missing or no count) that needs no
    second look: the frame is relayed untouched, with no parse on the common path."""
    return 0 < decoded <= MAX_CALL_TOKENS


def _counts(usage: Any, keys: tuple[str, ...]) -> bool:
    """`usage` is an object with every one of `keys` a count, and its other `*_tokens` too.
    The checks inlined: this runs on every relayed answer (calls and generators cost ~5 us)."""
    if type(usage) is not dict:
        return False
    for key in keys:
        value = usage.get(key)
        if type(value) is not int or not 0 <= value <= MAX_CALL_TOKENS:
            return False
    for key, value in usage.items():
        if type(value) is int:
            if not 0 <= value <= MAX_CALL_TOKENS:
                return False
        elif value is not None and key.endswith("_tokens"):
            return False
    return True


_CACHE_COUNTS = ("cache_read_input_tokens", "cache_creation_input_tokens")


Limits = tuple[int, int]  # (the call's output limit, every choice's; its prompt bound)


def anthropic_past(usage: dict[str, Any], limits: Limits | None) -> bool:
    """A Message's usage (its counts counts) past what the call could bill: its output, or its
    input with the cache parts (its prompt, as billed)."""
    if limits is None:
        return False
    prompt = sum(usage.get(k) or 0 for k in ("input_tokens", *_CACHE_COUNTS))
    return bool((usage.get("output_tokens") or 0) > limits[0] or prompt > limits[1])


def anthropic_usage(
    usage: Any, input_tokens: int, output_tokens: int, limits: Limits | None = None
) -> dict[str, Any] | None:
    """None when a Message's `usage` is well-formed (within `limits`), else the one to send
    instead. One that counted its input in cache counts alone (no `input_tokens`: none
    uncached) is sent with `input_tokens: 0`, its cache counts kept, as it was billed
    (upstream/anthropic.py)."""
    if _counts(usage, ("input_tokens", "output_tokens")):
        if not anthropic_past(usage, limits):
            return None
        return {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if type(usage) is dict and usage.get("input_tokens") is None:
        cached = {**usage, "input_tokens": 0}
        if any(usage.get(k) is not None for k in _CACHE_COUNTS) and _counts(
            cached, ("input_tokens", "output_tokens")
        ):
            return cached
    return {"input_tokens": input_tokens, "output_tokens": output_tokens}


def anthropic_delta_usage(
    usage: Any, output_tokens: int, limits: Limits | None = None
) -> dict[str, Any] | None:
    """None when a message_delta's `usage` is well-formed (its output within `limits`), else
    the one to send instead."""
    if _counts(usage, ("output_tokens",)) and not (
        limits is not None and usage["output_tokens"] > limits[0]
    ):
        return None
    return {"output_tokens": output_tokens}


def openai_usage_fine(usage: Any, limits: Limits | None = None) -> bool:
    """A chat completion's `usage` that is relayed as it came: absent, or well-formed and within
    `limits` when given (the check alone, for a stream whose every chunk may carry one:
    Arbiter's counts are worked out only for one that is not)."""
    if usage is None:
        return True
    return _counts(usage, ("prompt_tokens", "completion_tokens")) and not _past(usage, limits)


def _past(usage: dict[str, Any], limits: Limits | None) -> bool:
    """Its output or prompt count (counts already) past what the call could bill."""
    if limits is None:
        return False
    out, prompt = usage["completion_tokens"], usage["prompt_tokens"]
    return bool(out > limits[0] or prompt > limits[1])


def openai_usage(
    usage: Any, prompt_tokens: int, completion_tokens: int, limits: Limits | None = None
) -> dict[str, Any] | None:
    """None when a chat completion's `usage` is absent (optional there: the caller did not ask, or
    a lenient server sent none) or well-formed (within `limits`), else the one to send instead."""
    if openai_usage_fine(usage, limits):
        return None
    return own_openai_usage(prompt_tokens, completion_tokens)


def own_openai_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """Arbiter's counts as a chat completion's `usage`."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def embeddings_usage(usage: Any, prompt_tokens: int) -> dict[str, Any] | None:
    """None when an embeddings list's `usage` is well-formed, else the one to send instead."""
    if _counts(usage, ("prompt_tokens", "total_tokens")):
        return None
    return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}


def canonical_shown(
    usage: CanonicalUsage, prompt_tokens: int, output_tokens: int, limits: Limits | None
) -> CanonicalUsage:
    """A decoded usage about to be re-encoded for the client: itself when its counts were counts
    and within `limits`, else Arbiter's counts (the prompt's, the answer estimated from its
    text), the ones it was billed by, and nothing else of the upstream's (as chat's
    own_openai_usage). A negative count read as 0 showed the client 0 (`counted`)."""
    if usage.counted and (
        limits is None or (usage.output_tokens <= limits[0] and usage.prompt_tokens <= limits[1])
    ):
        return usage
    return CanonicalUsage(input_tokens=prompt_tokens, output_tokens=output_tokens)
