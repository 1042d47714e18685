"""The response cache on the request path: a hit answered without an upstream (recorded as a
decision of mode `cache`, rendered or replayed in the client's protocol), and a miss's complete
answer remembered. The cache itself (lookup, entries, store) is cache/; this only joins it to a
request (split from pipeline.py)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import orjson

from arbiter import request_log
from arbiter.cache import answer as cached
from arbiter.cache.service import Lookup
from arbiter.canonical import CanonicalResponse, CanonicalUsage, StreamError
from arbiter.errors import ArbiterError
from arbiter.principal import Principal
from arbiter.protocols import anthropic_stream
from arbiter.records import DecisionRecord
from arbiter.relay_codec import Translating
from arbiter.request_plan import Completed, Plan, Streamed
from arbiter.surfaces.openai_chat import sse_error_event
from arbiter.types import ChatRequest, ChatResult, Usage
from arbiter.upstream_body import dropped_fields

if TYPE_CHECKING:
    from arbiter.services import Services


async def serve_hit(
    s: Services, req: ChatRequest, principal: Principal, look: Lookup
) -> Completed | Streamed:
    """Answer from a cache entry: recorded as a decision of mode `cache` (cost 0, the
    source answer's cost saved), no budget reserved, no upstream called."""
    entry = look.entry
    assert entry is not None
    started = time.perf_counter()
    decision_id = s.new_id()
    kind: Literal["exact", "semantic"] = "semantic" if look.match is not None else "exact"
    if kind == "semantic":  # another prompt wrote it: the input counted is this request's
        usage = CanonicalUsage(req.prompt_tokens, entry.answer.usage.output_tokens)
        entry = dataclasses.replace(entry, answer=dataclasses.replace(entry.answer, usage=usage))
    # the hit's own tool-call ids (a replayed answer's ids would collide across clients)
    fresh = cached.fresh_call_ids(entry.answer, decision_id, req.protocol)
    if fresh is not entry.answer:
        entry = dataclasses.replace(entry, answer=fresh)
    saved = saved_now(s, entry)
    info: dict[str, Any] = {"entry_id": entry.id, "source_decision_id": entry.decision_id}
    headers = {
        "x-arbiter-model": entry.model,
        "x-arbiter-decision-id": decision_id,
        "x-arbiter-task": entry.task,
        "x-arbiter-cost-usd": "0.00000000",
        "x-arbiter-baseline-cost-usd": "0.00000000",
        "x-arbiter-cache": look.status,
        "x-arbiter-cache-saved-usd": f"{saved:.8f}",
        "x-arbiter-cache-source-decision-id": entry.decision_id,
    }
    if look.match is not None:
        info |= {"similarity": look.match.similarity, "p_false": look.match.p_false}
        headers["x-arbiter-cache-similarity"] = f"{look.match.similarity:.4f}"
    if (dropped := _dropped(s, req, entry.model)) is not None:
        headers["x-arbiter-dropped"] = dropped
    usage = entry.answer.usage
    record = DecisionRecord(
        id=decision_id, ts=time.time(), tenant=principal.tenant, task=entry.task,
        mode="cache", chosen_model=entry.model,
        reason=f"cache: {kind} hit of decision {entry.decision_id}",
        candidates=(), attempts=(), status="ok", cost_usd=0.0,
        baseline_model=s.baseline_for(principal).name, baseline_cost_usd=0.0,
        latency_ms=(time.perf_counter() - started) * 1000,
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.output_tokens,
        stream=req.stream, key_id=principal.key_id, cache_kind=kind,
        cache_saved_usd=saved, cache_info=info,
    )  # fmt: skip
    if (ctx := request_log.CURRENT.get()) is not None:
        # the request's log line names the hit's decision (a strict commit's 503 too)
        ctx.decided(record)
    await s.record(record)
    s.cache.served(decision_id, look, saved)
    created = int(time.time())
    if req.stream:
        codec = req.stream_codec and req.stream_codec(
            "openai", entry.model, decision_id, created, cached.shown_model(entry), None
        )
        error: Callable[[ArbiterError], bytes]
        if isinstance(codec, Translating):  # a surface of its own (Responses) encodes it
            frames = cached.with_hit_cost_frames(
                [codec.replay(list(cached.events(entry.answer, decision_id)))]
            )
            error = codec.error
        else:
            frames = cached.with_hit_cost_frames(cached.replay(
                entry, req.protocol, decision_id, include_usage=req.include_usage,
                created=created,
            ))  # fmt: skip
            error = _error_event(req.protocol)
        deadline = time.monotonic() + s.settings.failover.deadline_s
        # its key watched as a routed stream's is: revoked while its client reads, it ends
        key = (
            (s.key_streams, principal.key_id)
            if principal.key_id and not principal.is_admin
            else None
        )
        return Streamed(cached.Replay(frames, key, error), headers, deadline)
    # the body as well as its bytes: a surface that renders its own shape (Responses)
    # decodes the body
    body = cached.with_hit_cost_body(cached.render_body(entry, req.protocol, decision_id, created))
    result = ChatResult(
        entry.model, body, entry.answer.text, None, Usage(), 0.0, orjson.dumps(body),
        req.protocol,
    )  # fmt: skip
    return Completed(result, headers, req.protocol, hit=True)


def _error_event(protocol: str) -> Callable[[ArbiterError], bytes]:
    """A replay's terminal error event, in its client's protocol."""
    if protocol == "openai":
        return sse_error_event
    return lambda err: anthropic_stream.StreamEncoder("").error(StreamError(err))


def _dropped(s: Services, req: ChatRequest, model: str) -> str | None:
    """What the live answer's x-arbiter-dropped said: the fields of this request (an exact
    hit's are the source request's) the answering model's protocol has no place for; unknown
    once that model has left the registry."""
    if s.registry.get(model) is None:
        return None
    return dropped_fields(req, s.protocol_of(model))


def saved_now(s: Services, entry: cached.Entry) -> float:
    """What a hit saves: the calls it replaces, the answering one at today's prices (its
    usage priced by the model's current registry price, so a price change since the entry was
    written counts), not what the source answer cost then, plus the calls the source decision
    made before it (an escalated cascade's first call) as it cost them: a hit avoids the whole
    cascade, not only its last call. The entry's own cost (every call's) stands when the model
    has left the registry or the answer reported no usage to price."""
    m = s.registry.get(entry.model)
    u = entry.answer.usage
    if m is None or not (u.prompt_tokens or u.output_tokens):
        return entry.cost_usd
    return entry.earlier_usd + m.cost_usd(
        u.prompt_tokens, u.output_tokens, u.cache_read_input_tokens,
        u.cache_creation_input_tokens, u.cache_creation_1h_input_tokens,
    )  # fmt: skip


def remember_answer(
    s: Services,
    plan: Plan,
    model: str,
    answer: CanonicalResponse | None,
    cost: float,
    earlier: float = 0.0,
) -> None:
    """Store a complete, successful answer when the cache asked for it (a miss). `cost`: the
    decision's; `earlier`: of it, the calls before the answering one (a cascade's first)."""
    look = plan.cache
    if look is None or not look.write or answer is None:
        return
    s.cache.remember(
        look, model=model, task=plan.task, answer=answer, cost_usd=cost,
        decision_id=plan.decision_id, earlier_usd=earlier,
    )  # fmt: skip
