"""The simulator's /v1/embeddings and /v1/completions, for OpenAI-protocol models.

Embeddings are deterministic: each input's vector is drawn from a hash of (model, input), unit
length, `dimensions` long (256 unless asked), as floats or base64 little-endian float32; usage
counts the input's tokens, billed (the stats' prompt tokens and true cost) at the model's input
price. Completions are simulate()'s answer to each prompt as one user message (the same failures,
latency, billing and stats as chat; an array of prompts is one request with `n` choices per
prompt, as OpenAI answers it), in the text_completion shape, streamed as text_completion
chunks when asked (cut mid-stream like chat's); `max_tokens` defaults to 16, and 0 means no text.
Both send the provider's request id and rate-limit headers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from arbiter.offline.sim.config import ModelProfile
from arbiter.offline.sim.failures import error_body, failure_status
from arbiter.offline.sim.headers import provider_headers
from arbiter.offline.sim.simulate import Completion, Failed, billing_when_left, simulate
from arbiter.offline.sim.sse import EventStream
from arbiter.offline.sim.state import state_of
from arbiter.types import count_tokens

DEFAULT_DIMENSIONS = 256
_MAX_DIMENSIONS = 4096


def _bad(message: str, param: str | None = None, status: int = 400) -> Response:
    code = "model_not_found" if status == 404 else None
    body = error_body(message, "invalid_request_error", code, param)
    return Response(body, status, media_type="application/json")


async def _read(request: Request) -> tuple[dict[str, Any], ModelProfile] | Response:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _bad("We could not parse the JSON body of your request.")
    if not isinstance(body, dict):
        return _bad("The request body must be a JSON object.")
    model = body.get("model")
    profile = state_of(request).profiles.get(model) if isinstance(model, str) else None
    if profile is None or profile.protocol != "openai":
        return _bad(f"The model `{model}` does not exist.", "model", 404)
    return body, profile


def embedding(model: str, item: Any, dimensions: int) -> list[float]:
    """A unit vector drawn from a hash of (model, item): the same input, the same vector."""
    seed = hashlib.blake2b(orjson.dumps([model, item]), digest_size=32).digest()
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        block = hashlib.blake2b(seed + counter.to_bytes(4, "little"), digest_size=64).digest()
        values.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    vector = values[:dimensions]
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [round(v / norm, 7) for v in vector]


def _items(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) for v in value):
            return [value]  # one token array
        return value
    return None


def _tokens(items: list[Any]) -> int:
    return sum(count_tokens([i]) if isinstance(i, str) else len(i) for i in items)


async def embeddings(request: Request) -> Response:
    read = await _read(request)
    if isinstance(read, Response):
        return read
    body, profile = read
    items = _items(body.get("input"))
    if items is None:
        return _bad("'input' must be a string or a non-empty array.", "input")
    dims = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= _MAX_DIMENSIONS:
        return _bad(f"'dimensions' must be an integer in [1, {_MAX_DIMENSIONS}].", "dimensions")
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, item in enumerate(items):
        vector = embedding(profile.name, item, dims)
        value: Any = (
            base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = _tokens(items)
    stats = state_of(request).stats[profile.name]
    stats.requests += 1
    stats.ok += 1
    stats.prompt_tokens += tokens  # billed as input at the model's input price
    stats.true_cost_usd += profile.cost_usd(tokens, 0)
    await asyncio.sleep(profile.latency_ms / 1000)
    answer = {
        "object": "list", "data": data, "model": profile.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }  # fmt: skip
    bits = int.from_bytes(hashlib.blake2b(orjson.dumps(items), digest_size=8).digest(), "little")
    headers = provider_headers(request, bits, "openai")
    return Response(orjson.dumps(answer), 200, headers, "application/json")


async def completions(request: Request) -> Response:
    read = await _read(request)
    if isinstance(read, Response):
        return read
    body, profile = read
    prompt = body.get("prompt")
    items = _items(prompt)
    if items is None:
        return _bad("'prompt' must be a string or a non-empty array.", "prompt")
    limit = body.get("max_tokens")
    if limit is None:
        limit = 16  # the legacy API's default
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        return _bad("'max_tokens' must be an integer >= 0.", "max_tokens")
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128:
        return _bad("'n' must be an integer in [1, 128].", "n")
    stream = body.get("stream") is True
    state = state_of(request)
    # each prompt of an array is answered on its own, `n` times (OpenAI: len(prompt) x n
    # choices, prompt i's at indexes i*n .. i*n+n-1), in one request billed for them all
    outcomes: list[Completion] = []
    for item in items:
        text = item if isinstance(item, str) else " ".join(map(str, item))
        # 0 is a real limit here (no text: a prompt-only call, as with echo): not the default
        chat = {"messages": [{"role": "user", "content": text}], "max_tokens": limit,
                "stop": body.get("stop")}  # fmt: skip
        outcome = await simulate(state, profile, chat, stream, n=n)
        if len(outcomes) > 0:  # one request, however many prompts it holds
            state.stats[profile.name].requests -= 1
            state.stats[profile.name].streams -= int(stream)
        if isinstance(outcome, Failed):
            status, payload, headers = failure_status(outcome.kind, outcome.rng)
            return Response(payload, status, headers, "application/json")
        outcomes.append(outcome)
    first = outcomes[0]
    finish = _finish(first.finish)
    usage: dict[str, Any] = {
        "prompt_tokens": sum(o.usage[0] for o in outcomes),
        "completion_tokens": sum(o.usage[1] for o in outcomes),
        "total_tokens": sum(sum(o.usage) for o in outcomes),
    }  # fmt: skip
    costs = [o.body_cost for o in outcomes if o.body_cost is not None]
    if costs:
        usage["cost"] = sum(costs)
    headers = {**first.headers, **provider_headers(request, first.id_bits, "openai")}
    if stream:
        opts = body.get("stream_options")
        tail = usage if isinstance(opts, dict) and opts.get("include_usage") is True else None
        events = _stream_events(profile.name, outcomes, n, finish, tail)
        cut_at = None if first.plan.cut_after is None else first.plan.cut_after
        # n > 1 choices stream one after another here (a provider makes them at once): whole
        whole = first.more or len(outcomes) > 1
        left = None if whole else billing_when_left(state, profile, first, 0)
        return EventStream(
            events, first.first_s, first.gap_s, cut_at, headers, pace_from=1, on_left=left
        )
    await asyncio.sleep(first.first_s + first.gap_s * max(len(o.pieces) for o in outcomes))
    answer = {
        "id": f"cmpl-sim{first.id_bits:016x}", "object": "text_completion",
        "created": int(time.time()), "model": profile.name,
        "choices": [{"text": text, "index": p * n + i, "logprobs": None, "finish_reason": reason}
                    for p, o in enumerate(outcomes)
                    for i, (text, reason) in enumerate(_texts(o))],
        "usage": usage,
    }  # fmt: skip
    return Response(orjson.dumps(answer), 200, headers, "application/json")


def _finish(reason: str) -> str:
    return reason if reason in ("stop", "length") else "stop"


def _texts(outcome: Completion) -> list[tuple[str, str]]:
    """Each choice's (text, finish_reason): the first, then the others."""
    return [(outcome.text, _finish(outcome.finish)),
            *((c.text, _finish(c.finish)) for c in outcome.more)]  # fmt: skip


def _stream_events(
    model: str, outcomes: list[Completion], n: int, finish: str, usage: dict[str, Any] | None
) -> list[bytes]:
    """OpenAI's legacy completions stream: `text_completion` chunks with `choices[].text`, the
    finish reason on each choice's last, then the usage chunk (empty choices) when asked, then
    [DONE]. Prompt p's choices are indexes p*n .. p*n+n-1."""
    first = outcomes[0]
    cid, created = f"cmpl-sim{first.id_bits:016x}", int(time.time())

    def chunk(choices: list[dict[str, Any]], **more: Any) -> bytes:
        body = {"id": cid, "object": "text_completion", "created": created, "model": model,
                "choices": choices, **more}  # fmt: skip
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def choice(text: str, reason: str | None, index: int = 0) -> dict[str, Any]:
        return {"text": text, "index": index, "logprobs": None, "finish_reason": reason}

    events = [chunk([choice(piece, None)]) for piece in first.pieces]
    events.append(chunk([choice("", finish)]))
    for p, outcome in enumerate(outcomes):
        if p > 0:  # another prompt's first choice
            events.extend(chunk([choice(piece, None, p * n)]) for piece in outcome.pieces)
            events.append(chunk([choice("", _finish(outcome.finish), p * n)]))
        for i, more in enumerate(outcome.more, 1):  # the other choices, each after the first
            index = p * n + i
            events.extend(chunk([choice(piece, None, index)]) for piece in more.pieces)
            events.append(chunk([choice("", _finish(more.finish), index)]))
    if usage is not None:
        events.append(chunk([], usage=usage))
    events.append(b"data: [DONE]\n\n")
    return events
