"""What a stream we cut may have cost: the client left, the request's deadline passed, or a
shutdown's grace ran out, before the upstream's final usage came.

Charging its worst case (the prompt plus every choice at the output limit) billed a client
that stopped reading early 7-31x what the upstream billed. A provider bills what it generated
until it saw the connection close, so the charge is, per call:

  * input: the upstream's own count when it sent one while the answer ran (an Anthropic
    message_start, vLLM's continuous usage), else the prompt's worst-case count (worst_case.py);
  * output: what was relayed, counted twice over and the larger kept: with the real tokenizer
    (o200k, as budgets count) and at 4 characters a token (a provider's tokenizer may split
    text finer than o200k does; Claude's does), never below the upstream's own running count;
    plus the events that had come and were not read yet (a reader behind the upstream, as
    behind a client that reads slowly; an average event's worth each); plus, for
    each choice, what the upstream could generate between the last event read and the moment
    we closed the connection (the model's learnt output speed at its p99 times that gap) and
    one more event's worth (one that was on its way);
  * never more than the call's worst case.

The upstream's final usage, when it came before the cut, is the bill instead (call_pricing.py's
call_cost reads it first). What a provider sends after the close cannot reach us.

Not every upstream stops at the close: one that generates (and bills) the whole answer after the
client is gone (AWS Bedrock's Claude streams: LiteLLM drains them to their final usage to match
AWS's invoice, BerriAI/litellm#36008) is marked with the BILLS_AFTER_DISCONNECT capability, and
its cut streams stay at their worst case.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Final

from arbiter import tokenizer_load
from arbiter.errors import ClientDisconnected
from arbiter.key_streams import KeyRevoked
from arbiter.latency import Estimate
from arbiter.relay import DeadlineExceeded, _StreamOutcome
from arbiter.relay_codec import RelayCodec
from arbiter.stopping import ServerStopping
from arbiter.types import Usage, count_tokens, estimate_tokens
from arbiter.upstream.base import UpstreamStream
from arbiter.worst_case import CallWorst

# the speed read from the model's fit: its p99 (z 2.326), so the gap is not undercounted by a
# call that ran faster than the model's median
SPEED_Z = 2.326
_OFF_LOOP_CHARS = 32_768  # a longer answer is tokenized in a thread (as worst_case's prompts)


@dataclass(frozen=True, slots=True)
class CutOutput:
    """A cut call's output as far as we can know it: tokens in all, and the input count the
    upstream sent while the answer ran (None: it sent none)."""

    output_tokens: int
    running: Usage | None


def relayed_texts(codec: RelayCodec) -> list[str]:
    """Every output text the relayed events carried: each choice's text (joined: its pieces
    counted one by one would split words the upstream counted whole) and tool-call arguments."""
    body = codec.choices_body()
    if body is None:
        return ["".join(codec.parts), *(c.arguments for c in codec.calls.calls())]
    texts: list[str] = []
    for choice in body.get("choices", ()):
        message = choice.get("message") or {}
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        for call in message.get("tool_calls", ()):
            texts.append(call["function"]["arguments"])
    return texts


def tokens_of(texts: list[str]) -> int:
    """The larger of the o200k count and the 4-characters-a-token count of `texts`."""
    return max(count_tokens(texts), sum(estimate_tokens(t) for t in texts))


async def tokens_of_async(texts: list[str]) -> int:
    if sum(len(t) for t in texts) > _OFF_LOOP_CHARS:
        return await asyncio.to_thread(tokens_of, texts)
    return tokens_of(texts)


def fast_speed(fit: Estimate) -> float:
    """Tokens per second the model reaches at its p99 (its learnt fit, else its prior)."""
    return math.exp(fit.speed_mu + SPEED_Z * math.sqrt(max(fit.speed_var, 0.0)))


def cut_output_tokens(
    relayed: int,
    running: Usage | None,
    events: int,
    choices: int,
    tokens_per_s: float,
    after_last_s: float,
    unread: int = 0,
) -> int:
    """Output tokens of a cut call: `relayed` (or the upstream's running count, if larger) in
    `events` events, plus the `unread` events that had come and were not read (an average
    event's worth each), plus for each of `choices` what `tokens_per_s` makes in
    `after_last_s` (from the last event read to the close) and one event more."""
    seen = max(relayed, running.completion_tokens if running is not None else 0)
    per_event = max(1, -(-seen // max(events, 1)))
    after = math.ceil(tokens_per_s * max(after_last_s, 0.0))
    return seen + unread * per_event + choices * (after + per_event)


BILLS_AFTER_DISCONNECT: Final = "bills-after-disconnect"


def cut_by_us(failure: BaseException | None) -> bool:
    """Did we end the call (the client left, a deadline, a shutdown, its key revoked), so that
    we know when the upstream's connection closed? An upstream that broke or stalled may have
    generated the whole answer before it did: that call stays at its worst case."""
    return isinstance(failure, ClientDisconnected | DeadlineExceeded | ServerStopping | KeyRevoked)


async def cut_call_cost(
    worst: CallWorst,
    model: str,
    outcome: _StreamOutcome,
    upstream: UpstreamStream,
    fit: Estimate,
    closed: float,
) -> float:
    """The cost of one stream's call that we cut at `closed` (time.perf_counter(), the
    upstream's connection closed), never above its worst case (module docstring)."""
    # a bill, not a bound: counted with the real tables (on the loop before they are loaded a
    # count is the byte bound, ~4x English text's tokens: tokenizer_load.py); the client has
    # left, so waiting for them (off the loop, ~0.2 s once per process) delays no one
    await tokenizer_load.wait_ready()
    relayed = await tokens_of_async(relayed_texts(outcome.codec))
    last = outcome.last_event or outcome.started
    running = upstream.running_usage
    tokens = cut_output_tokens(
        relayed, running, outcome.events, worst.choices, fast_speed(fit), closed - last,
        upstream.unread_events,
    )  # fmt: skip
    return worst.capped(model, tokens, running)
