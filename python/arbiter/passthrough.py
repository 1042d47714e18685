"""POST /v1/embeddings and /v1/completions: passed through to the model the client names.

Not routed (there is no quality signal to route embeddings or raw completions by), so `auto`
is a 400; otherwise every call is what a chat call is: the model must exist and be allowed for
the key, and speak OpenAI's API (Anthropic's has neither endpoint); the worst case is reserved
against the budget caps before the call (embeddings: the input's tokens at the input price;
completions: the prompt's plus `max_tokens` (16 when unset, OpenAI's default, then sent so:
an upstream whose own default is longer is held to what was reserved) for each of
`n`/`best_of` choices of each prompt: an array of prompts is answered, and billed, per
prompt), retries and the circuit breaker act as for chat (failover.py, this one model only),
and the call is recorded as a `passthrough` decision with its cost (the upstream's usage at
the registry's prices, or the cost it reported). Its baseline cost is its own cost:
nothing was saved by routing. The answer is the upstream's bytes with Arbiter's headers;
a streamed completion is relayed chunk by chunk (passthrough_stream.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
from starlette.types import Receive

from arbiter import (
    cost_ratio,
    relayed_usage,
    request_log,
    short_choices,
    telemetry,
    tokenizer_load,
)
from arbiter.budget import billed_cost
from arbiter.config import ModelSettings
from arbiter.cost_report import vetted
from arbiter.cut_stream_cost import tokens_of_async
from arbiter.disconnect import CancelOnDisconnect
from arbiter.dropped_usage import counted_empty, counts_dropped, missing_side
from arbiter.errors import (
    ArbiterError,
    ClientDisconnected,
    ContextTooLong,
    InvalidRequest,
    MissingParameter,
    TooManyRequestTokens,
    UnknownModel,
)
from arbiter.failover import run_with_failover
from arbiter.ids import named
from arbiter.passthrough_stream import OpenedCall, Streaming, streaming
from arbiter.principal import Principal
from arbiter.prompt_ratio import scaled
from arbiter.protocols import _check as c
from arbiter.records import Attempt, DecisionRecord
from arbiter.surfaces import openai_params
from arbiter.types import Usage, count_tokens
from arbiter.upstream import embeddings_answer
from arbiter.upstream.http import forwarded_headers
from arbiter.upstream.openai import OpenAIUpstream, choices_finished, parse_usage
from arbiter.upstream.usage_counts import of_answer, prompt_bound, within_limit

if TYPE_CHECKING:
    from arbiter.services import Services

Kind = Literal["embeddings", "completions"]
_DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's default max_tokens for /v1/completions
_MAX_CHOICES = 128
_MAX_BEST_OF = 20  # CreateCompletionRequest's maximum (n's is _MAX_CHOICES)


@dataclass(slots=True)
class Parsed:
    model: str
    body: dict[str, Any]
    prompt_tokens: int  # counted with the budget tokenizer (o200k); token arrays by length
    output_tokens: int  # the most the call may produce (all choices)
    stream: bool = False  # completions only (passthrough_stream.py)
    include_usage: bool = False  # the client's stream_options.include_usage
    choices: int = 1  # completions: every choice of every prompt (output_tokens is their sum)
    # completions: the choices the answer should hold when several (n of each prompt; best_of's
    # extra candidates are never returned), else None: a shorter answer says so (short_choices)
    answered: int | None = None
    # the model's settings (its prices) when the call was reserved and sent: the call is
    # charged at them, whatever an admin price patch did meanwhile (set by PassThrough.handle)
    pinned: ModelSettings | None = None

    def model_settings(self, look: Callable[[str], ModelSettings]) -> ModelSettings:
        """The pinned settings, else `look`'s (the registry's) for the model."""
        return self.pinned if self.pinned is not None else look(self.model)


def parse(kind: Kind, raw: bytes) -> Parsed:
    body = c.obj(c.load_json(raw), "body")
    c.sendable(body, raw)
    model = c.string(body.get("model"), "model", non_empty=True)
    if model == "auto":
        raise InvalidRequest(
            f"/v1/{kind} is not routed: name the model to use ('auto' is for chat, messages "
            "and responses).",
            param="model",
        )
    if kind == "embeddings":
        if body.get("input") is None:  # the spec's required field; a null one too
            raise MissingParameter("input")
        _check_embedding_input(body.get("input"))
        tokens = _input_tokens(body.get("input"), "input")
        _check_token_ids(body["input"], "input")
        dims = body.get("dimensions")
        if dims is not None:
            c.integer(dims, "dimensions", minimum=1)
        fmt = body.get("encoding_format")
        if fmt is not None and fmt not in ("float", "base64"):
            raise InvalidRequest(
                "'encoding_format' must be 'float' or 'base64'.", param="encoding_format"
            )
        c.opt_string(body.get("user"), "user")  # as chat's and completions' (openai_params)
        return Parsed(model, body, tokens, 0)
    stream = bool(c.opt_bool(body.get("stream"), "stream"))
    include_usage = False
    if body.get("stream_options") is not None:
        if not stream:
            raise InvalidRequest(
                "'stream_options' is only allowed when 'stream' is true.", param="stream_options"
            )
        opts = c.obj(body["stream_options"], "stream_options")
        usage = c.opt_bool(opts.get("include_usage"), "stream_options.include_usage")
        include_usage = bool(usage)
    if body.get("prompt") is None:  # the spec's required field; a null one too
        raise InvalidRequest("prompt: Field required", param="prompt")
    tokens = _input_tokens(body.get("prompt"), "prompt")
    _check_token_ids(body["prompt"], "prompt")
    max_tokens = c.opt_integer(body.get("max_tokens"), "max_tokens", minimum=0)
    n = c.opt_integer(body.get("n"), "n", minimum=1) or 1
    best_of = c.opt_integer(body.get("best_of"), "best_of", minimum=1) or 1
    if max(n, best_of) > _MAX_CHOICES:
        raise InvalidRequest(f"'n' and 'best_of' must be at most {_MAX_CHOICES}.", param="n")
    if best_of > _MAX_BEST_OF:  # reserved as that many candidates per prompt, then refused
        raise InvalidRequest(f"'best_of' must be at most {_MAX_BEST_OF}.", param="best_of")
    _check_best_of(body.get("best_of"), best_of, n, stream)
    c.opt_number(body.get("temperature"), "temperature", 0.0, 2.0)
    c.opt_number(body.get("top_p"), "top_p", 0.0, 1.0)
    openai_params.check_completions(body)
    limit = _DEFAULT_COMPLETION_TOKENS if max_tokens is None else max_tokens
    if max_tokens is None:
        # sent as reserved: OpenAI's and vLLM's default, but llama.cpp's server and others
        # generate to the context's end without one, so a call reserved at 16 tokens was billed
        # 3,000 and a $0.01 cap was passed 18 times over by one request (probe18m)
        body = {**body, "max_tokens": limit}
    prompts = _prompt_count(body["prompt"])
    choices = max(n, best_of) * prompts
    answered = n * prompts if n * prompts >= 2 else None
    return Parsed(model, body, tokens, limit * choices, stream, include_usage, choices, answered)


def _check_best_of(given: Any, best_of: int, n: int, stream: bool) -> None:
    """What OpenAI refuses with 400s (after a reservation and an upstream call, were they
    forwarded): fewer candidates than answers, and candidates that cannot be streamed."""
    if given is not None and best_of < n:
        raise InvalidRequest(
            f"'best_of' ({best_of}) must be greater than or equal to 'n' ({n}).", param="best_of"
        )
    if stream and best_of > 1:
        raise InvalidRequest(
            "'best_of' greater than 1 cannot be streamed: set 'stream' to false or drop 'best_of'.",
            param="best_of",
        )


def _prompt_count(prompt: Any) -> int:
    """How many prompts a (validated) `prompt` holds: OpenAI completes each one `n` times."""
    if isinstance(prompt, list) and all(isinstance(p, str | list) for p in prompt):
        return len(prompt)  # strings, or token-id arrays
    return 1  # a string, or one prompt as token ids


_MAX_EMBEDDING_INPUTS = 2048  # the spec's maxItems for every array form of `input`


def _check_embedding_input(value: Any) -> None:
    """What the spec forbids in an embeddings `input` (no empty string, at most 2,048 items):
    OpenAI refuses it after the call; a 400 here, before one."""
    items = value if isinstance(value, list) else [value]
    if len(items) > _MAX_EMBEDDING_INPUTS:
        raise InvalidRequest(
            f"'input' must hold at most {_MAX_EMBEDDING_INPUTS} items.", param="input"
        )
    if any(item == "" for item in items):
        raise InvalidRequest("'input' cannot be an empty string.", param="input")


# the largest token id passed on: no tokenizer's vocabulary comes near it (o200k has 200,019
# ids), and it is what the int32 token tensors of the servers behind us hold; an id past it
# (`[2**40]`) is no token of any model (vLLM: "Token id ... is out of vocabulary")
MAX_TOKEN_ID = 2**31 - 1


def _check_token_ids(value: Any, param: str) -> None:
    """A prompt's or input's token ids (the forms _input_tokens accepted) are in
    0 .. MAX_TOKEN_ID: OpenAI refuses others after the call, a server may fail on them."""
    if not isinstance(value, list) or not value or isinstance(value[0], str):
        return
    for ids in value if isinstance(value[0], list) else [value]:
        low, high = min(ids), max(ids)  # C loops: an input may hold millions of ids
        if low < 0 or high > MAX_TOKEN_ID:
            raise InvalidRequest(
                f"Invalid '{param}': token id {low if low < 0 else high} is out of range "
                f"(token ids are integers from 0 to {MAX_TOKEN_ID}).",
                param=param,
            )


def _input_tokens(value: Any, param: str) -> int:
    """A string, strings, a token array or token arrays (OpenAI's accepted forms)."""
    if isinstance(value, str):
        return count_tokens([value])
    items = c.array(value, param, non_empty=True)
    if all(isinstance(v, str) for v in items):
        return count_tokens(items)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return len(items)
    if all(
        isinstance(v, list) and v and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
        for v in items
    ):
        return sum(len(v) for v in items)
    raise InvalidRequest(
        f"'{param}' must be a string, an array of strings, an array of token ids or an array "
        "of token-id arrays.",
        param=param,
    )


async def _check_input_lengths(req: Parsed, model: ModelSettings) -> None:
    """Each embeddings input within the model's context window (OpenAI's 8,192 tokens, the
    default window): one past it is a 400 here, as chat's prompt past a named model's window
    is, not a call whose worst case is reserved and that the upstream refuses or, a server that
    truncates, answers with the embedding of a part of the text. Only when the inputs' total
    is past the window can one be: then each is counted, off the event loop (a megabyte of
    text is a tokenizer's tens of milliseconds)."""
    window = model.context_window
    if req.prompt_tokens <= window:
        return
    at, longest = await asyncio.to_thread(_longest_input, req.body["input"])
    if longest > window:
        where = "input" if at is None else f"input[{at}]"
        raise ContextTooLong(
            f"Invalid '{where}': this model's maximum input length is {window} tokens; the "
            f"input has about {longest}.",
            param="input",
        )


# OpenAI's embedding models take at most this many tokens in one request, all inputs together
# ("Requested N tokens, max 300000 tokens per request"): known for its own models only
OPENAI_EMBEDDING_REQUEST_TOKENS = 300_000
_OPENAI_EMBEDDING_MODELS = ("text-embedding-3-", "text-embedding-ada-002")


def request_token_limit(model: ModelSettings) -> int | None:
    """The most tokens one embeddings request to `model` may hold, all its inputs together,
    where known: OpenAI's embedding models by their upstream name (a "vendor/" prefix
    dropped); None (not checked) for any other, whose server sets its own."""
    name = (model.upstream_model or model.name).lower().rsplit("/", 1)[-1]
    return OPENAI_EMBEDDING_REQUEST_TOKENS if name.startswith(_OPENAI_EMBEDDING_MODELS) else None


def _check_request_total(req: Parsed, model: ModelSettings) -> None:
    """The inputs' total within the model's per-request limit: past it OpenAI refuses the call
    with a 400 after it was reserved for; a 400 here first, naming the limit. The total is
    the budget's count (o200k; the model's cl100k counts most text a little higher): a request
    just under the limit here may still be refused there."""
    limit = request_token_limit(model)
    if limit is not None and req.prompt_tokens > limit:
        raise TooManyRequestTokens(
            f"Requested about {req.prompt_tokens} tokens, max {limit} tokens per request: "
            f"'{req.model}' takes at most {limit} tokens in one embeddings request, all its "
            "inputs together; split the inputs over several requests.",
            param="input",
        )


def _longest_input(value: Any) -> tuple[int | None, int]:
    """The longest input (its index, None for a lone one) and its tokens, in a validated
    embeddings `input`: a string, strings, token ids or token-id arrays."""
    if isinstance(value, str):
        return None, count_tokens([value])
    if all(isinstance(v, int) for v in value):  # one input as token ids
        return None, len(value)
    sizes = [count_tokens([v]) if isinstance(v, str) else len(v) for v in value]
    longest = max(range(len(sizes)), key=sizes.__getitem__)
    return longest, sizes[longest]


@dataclass(slots=True)
class Answered:
    body: bytes
    headers: dict[str, str]


class PassThrough:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def handle(
        self, kind: Kind, req: Parsed, principal: Principal, receive: Receive | None = None
    ) -> Answered | Streaming:
        """`receive`: the client's ASGI channel; a non-streaming call is cancelled when the
        client leaves (disconnect.py, as for chat), recorded as `client_disconnected`."""
        s = self.s
        model = s.registry.get(req.model)
        # a model the key may not use is answered as an unknown one (OpenAI's 404): a 403 would
        # tell the tenant that the model exists
        hidden = principal.allowed_models is not None and req.model not in principal.allowed_models
        if model is None or hidden:
            raise UnknownModel(
                f"The model `{req.model[:128]}` does not exist or you do not have access to it.",
                param="model",
            )
        upstream = s.upstream_for(req.model)
        if not isinstance(upstream, OpenAIUpstream):
            raise InvalidRequest(
                f"The model `{req.model}` is served over Anthropic's API, which has no /v1/{kind} "
                "endpoint.",
                param="model",
            )
        if kind == "embeddings":
            _check_request_total(req, model)
            await _check_input_lengths(req, model)
        req.pinned = model  # charged at the prices it is reserved and sent at
        decision_id = s.new_id()
        started = time.perf_counter()
        # the request's deadline bounds a stream to its end, as a chat stream's (relay.py)
        deadline = time.monotonic() + s.settings.failover.deadline_s
        if (ctx := request_log.CURRENT.get()) is not None:
            ctx.requested_model = req.model
        budgets = s.budgets
        caps = budgets.caps_for(principal, budgets.now()) if budgets.enabled else ()

        def worst(name: str) -> float:  # `name` is req.model: pass-through never fails over
            m = req.model_settings(s.registry.__getitem__)
            billed = max(scaled(req.prompt_tokens, m.prompt_token_ratio),
                         s.prompt_ratios.tokens(req.model, req.prompt_tokens))  # fmt: skip
            cost = m.cost_usd(billed, req.output_tokens)
            return cost * s.cost_ratios.factor(req.model)  # cost_ratio.py

        charge = await budgets.open(decision_id, caps, worst, (req.model,))
        attempts: list[Attempt] = []
        path = "/" + kind

        async def call(name: str) -> Any:
            m = req.model_settings(s.registry.__getitem__)

            def once() -> Awaitable[Any]:
                if req.stream:  # opened up to its first content: failover acts until then
                    return upstream.open_stream(req.body, m, deadline=deadline, path=path)
                return upstream.call_endpoint(path, req.body, m)

            def send() -> Awaitable[Any]:
                if telemetry.TRACER is None:
                    return once()
                return telemetry.attempt(
                    once, operation="embeddings" if kind == "embeddings" else "text_completion",
                    provider="openai", model=name, upstream_model=m.upstream_model,
                )  # fmt: skip

            return await budgets.call(charge, name, send)

        # a stream too, until it opens (its first content): then passthrough_stream watches it
        watch = CancelOnDisconnect(receive) if receive is not None else contextlib.nullcontext()
        try:
            if isinstance(watch, CancelOnDisconnect) and watch.left_already():
                # gone while the budget was reserved: no call is made, nothing is billed
                raise ClientDisconnected("the client disconnected before any upstream call")
            with watch:
                _, answer = await run_with_failover(
                    (req.model,), call, settings=s.settings.failover, breaker=s.breaker,
                    attempts=attempts,
                )  # fmt: skip
        except ArbiterError as err:  # ClientDisconnected too: the call was cancelled
            # what the failed calls may have been billed (Budgets.call committed it), the spend
            # the release settles: the decision says the same
            await self._record(
                kind, req, principal, decision_id, started, attempts, None, err,
                committed=charge.committed,
            )  # fmt: skip
            if caps:
                await budgets.release(decision_id)
            raise
        except BaseException:
            if caps:
                await budgets.release(decision_id)
            raise
        if req.stream:
            opened = OpenedCall(
                self, kind, req, principal, decision_id, started, attempts, charge, answer
            )
            return streaming(opened)
        data, raw, headers = answer
        # what a usage lacks is counted for a completion whose every choice finished
        usage = of_answer(parse_usage(data, headers), choices_finished(data))
        if kind == "embeddings" and usage.output_missing and not usage.prompt_missing:
            # no output side: its count is whole
            usage = dataclasses.replace(usage, output_missing=False)
        short = None
        if req.answered is not None:  # completions asking several choices
            got = data.get("choices")
            short = short_choices.short(req.answered, len(got) if isinstance(got, list) else 0)
        cost, pt, ct = await self._record(
            kind, req, principal, decision_id, started, attempts, usage, None,
            committed=charge.committed, relayed=lambda: completion_texts(data), short=short,
        )  # fmt: skip
        if plan_log := request_log.CURRENT.get():
            plan_log.upstream_request_id = headers.get("x-request-id")
        out = {
            "x-arbiter-model": req.model,
            "x-arbiter-decision-id": decision_id,
            "x-arbiter-task": _task(kind),
            "x-arbiter-cost-usd": f"{cost:.8f}",
            "x-arbiter-baseline-cost-usd": f"{cost:.8f}",
            **forwarded_headers(headers),
        }
        if short is not None:  # fewer choices than n (of each prompt) asked: short_choices.py
            out[short_choices.HEADER] = short
        if kind == "completions":
            # as chat's: never an id of "" (ids.named), and a usage that is no count or lacks a
            # side shows the counts it was billed by (relayed_usage.py), which the SDK's type
            # requires both of
            fixes: dict[str, Any] = {}
            if not named(data.get("id")):
                fixes["id"] = "cmpl-" + decision_id
            m = req.model_settings(self.s.registry.__getitem__)
            limits = (req.output_tokens, prompt_bound(m.context_window, req.prompt_tokens))
            shown = relayed_usage.openai_usage(data.get("usage"), pt, ct, limits)
            if shown is not None:
                fixes["usage"] = shown
            if fixes:
                return Answered(orjson.dumps({**data, **fixes}), out)
        if kind == "embeddings":  # usage is required there: Arbiter's count for a missing one
            mended = relayed_usage.embeddings_usage(data.get("usage"), req.prompt_tokens)
            if mended is not None:  # `data`'s vectors may be placeholders: `raw` has them
                fixed = await embeddings_answer.with_usage(raw, mended, req.model)
                return Answered(fixed, out)
        return Answered(raw or orjson.dumps(data), out)

    async def _record(
        self,
        kind: Kind,
        req: Parsed,
        principal: Principal,
        decision_id: str,
        started: float,
        attempts: list[Attempt],
        usage: Usage | None,
        error: ArbiterError | None,
        committed: float = 0.0,
        opened: bool = False,
        cut: float | None = None,
        relayed: Callable[[], list[str]] | None = None,
        short: str | None = None,
    ) -> tuple[float, int, int]:
        """`opened`: a stream was under way, so even a failed call may be billed; `cut`: what a
        stream we cut before its usage came generated (cut_stream_cost.py), as for chat;
        `relayed`: the answer's output texts, read only when its usage counts were no counts or
        one side's count was missing (then priced from them, as chat's: dropped_usage.py);
        `short`: "got of asked" when the answer held fewer choices than asked (short_choices).
        The cost recorded, and the prompt and output tokens it was priced by."""
        s = self.s
        m = req.model_settings(s.registry.__getitem__)

        def unmarked() -> float:  # at the registry's prices: what a report is judged by
            billed = max(scaled(req.prompt_tokens, m.prompt_token_ratio),
                         s.prompt_ratios.tokens(req.model, req.prompt_tokens))  # fmt: skip
            return m.cost_usd(billed, req.output_tokens)

        def worst() -> float:
            return unmarked() * s.cost_ratios.factor(req.model)  # cost_ratio.py

        # an absurd reported cost counts as not reported
        usage = vetted(m, usage, unmarked, s.billing_alerts.cost_report_dropped)
        if usage is not None:  # a count past what the call could bill: none (within_limit)
            bound = prompt_bound(m.context_window, req.prompt_tokens)
            usage = within_limit(usage, req.output_tokens, bound)
        if usage is not None and not (usage.counts_dropped or usage.prompt_missing):
            # the upstream's count of the prompt teaches the model's ratio (prompt_ratio.py)
            s.prompt_ratios.observe(req.model, req.prompt_tokens, usage.prompt_tokens)
        if error is None and cut is None and relayed is not None and counts_dropped(usage):
            usage = await self._counted(kind, req, usage, relayed, worst)
        pt = usage.prompt_tokens if usage and usage.prompt_tokens else req.prompt_tokens
        ct = usage.completion_tokens if usage else 0
        if error is None or opened:
            billed = billed_cost(m, usage)
            if billed is not None and usage is not None:  # cost_ratio.py
                cost_ratio.observe(s.cost_ratios, req.model, m, usage, billed)
            # no usage: what a stream we cut generated, else what it may have cost (its worst
            # case), as for chat
            if billed is None:
                billed = cut if cut is not None else worst()
            cost = billed + committed
        else:
            cost = committed
        record = DecisionRecord(
            id=decision_id,
            ts=time.time(),
            tenant=principal.tenant,
            task=_task(kind),
            mode="passthrough",
            chosen_model=req.model,
            reason=f"pass-through: /v1/{kind} to {req.model}" + short_choices.said(short),
            candidates=(),
            attempts=tuple(attempts),
            status="failed" if error else "ok",
            stream=req.stream,
            cost_usd=cost,
            baseline_model=req.model,  # not routed: no saving to claim
            baseline_cost_usd=cost,
            latency_ms=(time.perf_counter() - started) * 1000,
            prompt_tokens=pt,
            completion_tokens=ct,
            key_id=principal.key_id,
            error=error.code if error else None,
            cost_source="upstream" if usage and usage.reported_cost_usd is not None else "registry",
        )
        # settled first, as chat's: the calls were made whether or not a strict commit lands
        s.on_spend(_Spend(decision_id), cost)
        if (ctx := request_log.CURRENT.get()) is not None:  # a strict 503 names its decision
            ctx.decided(record)
        await s.record(record)
        return cost, pt, ct

    async def _counted(
        self,
        kind: Kind,
        req: Parsed,
        usage: Usage | None,
        relayed: Callable[[], list[str]],
        worst: Callable[[], float],
    ) -> Usage:
        """The usage a call is billed by when its upstream's counts were no counts or one side's
        was missing: a counted side kept, the prompt otherwise as parsed (the budget
        tokenizer), the output counted from the answer's texts (an embeddings list has none);
        the operator's alert raised. Priced never above the call's worst case (billed_cost's
        caller: the counts are capped to it here)."""
        kept = usage if usage is not None and not usage.counts_dropped else None
        prompt = kept.prompt_tokens if kept is not None and not kept.prompt_missing else 0
        output = kept.completion_tokens if kept is not None and not kept.output_missing else None
        if output is None:
            output = 0
            if kind == "completions":
                await tokenizer_load.wait_ready()  # a bill: the real tables (once a process)
                output = await tokens_of_async(relayed())
        counted = Usage(prompt_tokens=prompt or req.prompt_tokens, completion_tokens=output)
        m = req.model_settings(self.s.registry.__getitem__)
        bound = worst()
        if m.cost_usd(counted.prompt_tokens, counted.completion_tokens) > bound:
            counted = Usage(prompt_tokens=req.prompt_tokens, completion_tokens=req.output_tokens)
        cost = m.cost_usd(counted.prompt_tokens, counted.completion_tokens)
        if not counted_empty(usage, output):  # an empty answer counted 0: a true count
            self.s.billing_alerts.usage_dropped(req.model, cost, bound, missing_side(usage))
        return counted


def completion_texts(body: dict[str, Any]) -> list[str]:
    """Every choice's text of a whole /v1/completions answer (none of an embeddings list)."""
    choices = body.get("choices")
    return [
        c["text"]
        for c in (choices if isinstance(choices, list) else ())
        if isinstance(c, dict) and isinstance(c.get("text"), str)
    ]


def _task(kind: Kind) -> str:
    return "embedding" if kind == "embeddings" else "completion"


@dataclass(slots=True)
class _Spend:
    decision_id: str  # what Services.on_spend reads of a plan
