"""What an answered call costs when its upstream's usage counts were no counts.

An answer whose usage said `output_tokens: NaN` (or -5, or 10^13: usage_counts.counts_believable
drops the whole usage, so a lying output count cannot leave the call priced on its prompt alone) was
charged its worst case: every choice at the output limit, though the answer was there, whole,
to be counted. Such a call is now priced from what it relayed, as a stream we cut is
(cut_stream_cost.py): its prompt as the decision counts it (the real tokenizer, each image by
its model's image rule at its size: the upstream's count being no count) and its output
counted twice over, with the real tokenizer and at 4 characters a token, the larger kept;
never above the call's worst case. The operator is told (`usage_dropped`, at most one
alert per model each ten minutes; every such call counted in `arbiter_usage_dropped_total`:
billing_alerts.py), since an upstream that lies about its counts
may also bill what we cannot see (reasoning tokens).

A usage that counted one side of the call and left the other out (an Anthropic Message with
`input_tokens` alone, a chat completion without `completion_tokens`, or the reverse) billed the
missing side as 0: a cap leaked the answer's (or the prompt's) cost. The side it gave is kept,
the missing one counted as above (the prompt as the decision counts it, the output from the
answer's texts), with the same alert. An embeddings list has no output side: its
`prompt_tokens` alone is its whole bill (passthrough.py keeps it exact).

An answer with no usage at all (a lenient server that never counts, an OpenAI stream whose
upstream ignored `stream_options.include_usage`, an Anthropic stream whose message_delta carried
no output count) misses both sides: it is counted the same way, with the same alert.

All of this holds for an answer that finished (every choice's finish reason given, a Message's
stop reason, a stream's end: `[DONE]` or a clean end after every finish reason, message_stop;
upstream/usage_counts.of_answer): the answer is then all the upstream generated. Of one that did
not, nothing bounds what it generated past what reached us: its worst case (a stream we cut:
cut_stream_cost.py). Arbiter's own calls (a shadow call, a judge's) are priced by the same rule
(`own_call_cost`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from arbiter import tokenizer_load
from arbiter.budget import billed_cost
from arbiter.call_pricing import pinned
from arbiter.config import ModelSettings
from arbiter.cut_stream_cost import tokens_of_async
from arbiter.request_plan import Plan
from arbiter.types import ChatRequest, ChatResult, Usage
from arbiter.upstream.usage_counts import prompt_bound, within_limit
from arbiter.worst_case import CallWorst

if TYPE_CHECKING:
    from arbiter.services import Services


def counts_dropped(usage: Usage | None) -> bool:
    """The upstream sent a usage whose counts were dropped, or that counted one side of the call
    alone, and no cost to price it by."""
    return (
        usage is not None
        and (usage.counts_dropped or usage.one_sided)
        and usage.reported_cost_usd is None
    )


def missing_side(usage: Usage | None) -> str | None:
    """The side a one-sided usage left out ("input" / "output"; "both": no usage at all), for
    the operator's alert."""
    if usage is None or usage.counts_dropped or not usage.one_sided:
        return None
    if usage.prompt_missing and usage.output_missing:
        return "both"
    return "input" if usage.prompt_missing else "output"


def counted_empty(usage: Usage | None, output_tokens: int) -> bool:
    """The usage counted the output 0 and gave its prompt, and the answer relayed no text
    (`output_tokens`, Arbiter's count, 0): a true count of an empty answer, no usage dropped
    (the zero-count rule is for a 0 beside text: usage_counts.missing_sides)."""
    return (
        usage is not None
        and usage.output_zero
        and not usage.prompt_missing
        and not usage.counts_dropped
        and output_tokens == 0
    )


def answer_texts(body: dict[str, Any]) -> list[str]:
    """Every output text of a whole answer as its upstream sent it: an OpenAI chat completion's
    choices (content, refusal, reasoning, tool calls' names and arguments) or an Anthropic
    Message's content blocks (text, thinking, tool uses' names and inputs)."""
    texts: list[str] = []
    choices = body.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            message = choice.get("message") if isinstance(choice, dict) else None
            if isinstance(message, dict):
                _message_texts(message, texts)
        return texts
    blocks = body.get("content")
    for block in blocks if isinstance(blocks, list) else ():
        if not isinstance(block, dict):
            continue
        for key in ("text", "thinking", "name"):
            if isinstance(block.get(key), str):
                texts.append(block[key])
        if block.get("input") is not None:
            texts.append(_json(block["input"]))
    return texts


def _message_texts(message: dict[str, Any], texts: list[str]) -> None:
    for key in ("content", "refusal", "reasoning_content", "reasoning"):
        if isinstance(message.get(key), str):
            texts.append(message[key])
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            texts += [v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str)]


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


async def relayed_cost(
    s: Services,
    plan: Plan,
    model: str,
    req: ChatRequest,
    texts: list[str],
    usage: Usage | None = None,
) -> tuple[float, int]:
    """(what the call of `model` costs priced from its output `texts`, its output tokens): the
    prompt's count and the output's, never above the call's worst case (the charge's, when it
    has one); the operator's alert raised. A one-sided `usage` keeps the side it counted."""
    m = pinned(s, plan, model)
    worst = plan.charge.call_worst if plan.charge is not None else None
    # as the decision counts it: images by size
    prompt = Usage(prompt_tokens=req.prompt_tokens_on(m.image_rule))
    bound = worst if isinstance(worst, CallWorst) else None
    cost, counted = await _priced(s, model, m, bound, prompt, texts, usage)
    return cost, counted.completion_tokens


async def _priced(
    s: Services,
    model: str,
    m: ModelSettings,
    worst: CallWorst | None,
    prompt: Usage | None,
    texts: list[str],
    usage: Usage | None,
) -> tuple[float, Usage]:
    """(the cost, the counts it was priced by) of a call whose usage `counts_dropped`: the side
    it counted kept, the output otherwise from `texts`, the input otherwise `prompt` (None:
    the worst case's own count, `worst` then required); never above `worst`."""
    kept = usage if usage is not None and usage.one_sided and not usage.counts_dropped else None
    if kept is not None and not kept.output_missing:
        tokens = kept.completion_tokens
    else:
        await tokenizer_load.wait_ready()  # a bill, not a bound: the real tables (once a process)
        tokens = await tokens_of_async(texts)
    counted = kept if kept is not None and not kept.prompt_missing else prompt
    if worst is not None:
        cost, bound = worst.capped(model, tokens, counted), worst(model)
        if counted is None:
            counted = Usage(prompt_tokens=worst.prompt_on(m))
    else:
        assert counted is not None, "a call priced without a worst case needs its prompt count"
        cost = m.cost_usd(
            counted.prompt_tokens,
            tokens,
            counted.cache_read_tokens,
            counted.cache_write_tokens,
            counted.cache_write_1h_tokens,
        )
        bound = None
    if not counted_empty(usage, tokens):
        s.billing_alerts.usage_dropped(model, cost, bound, missing_side(usage))
    return cost, Usage(counted.prompt_tokens, tokens)


async def own_call_cost(
    s: Services, model: str, worst: CallWorst, result: ChatResult
) -> tuple[float, Usage]:
    """(what one of Arbiter's own whole calls cost, the counts it was priced by): a shadow
    call's, a judge's. Its usage or reported cost when believable; a usage that lacks a side,
    whose counts are no counts or that is missing altogether, of an answer that finished, is
    counted from the answer's texts as a client's answer is (the prompt as the worst case
    counts it: the real tokenizer); else the call's worst case."""
    m = s.registry[model]
    usage = result.usage
    if usage is not None:  # a count past what the call could bill: none (within_limit)
        usage = within_limit(usage, worst.output_tokens(m), prompt_bound(m.context_window))
    if counts_dropped(usage):
        return await _priced(s, model, m, worst, None, answer_texts(result.body), usage)
    billed = billed_cost(
        m, usage, lambda: worst.unmarked(model), s.billing_alerts.cost_report_dropped
    )
    return (billed if billed is not None else worst(model)), usage
