"""Reproducible per-request randomness and the failure modes it selects.

A request's draws derive from (seed, model, messages, per-model request counter), so a run with the
same requests in the same order fails and succeeds in the same places.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from random import Random
from typing import Any, Literal

import orjson

from arbiter.offline.sim.config import Failures, ModelProfile

FailureKind = Literal["down", "error_5xx", "error_429", "timeout", "malformed"]
StreamFault = Literal["stall", "trickle", "stream_cut", "malformed_chunk"]


@dataclass(frozen=True, slots=True)
class StreamPlan:
    stall: bool = False
    trickle: bool = False
    cut_after: int | None = None  # die after this many content chunks
    malformed_at: int | None = None  # index of the content chunk that is replaced by garbage

    @property
    def faults(self) -> tuple[StreamFault, ...]:
        found: list[StreamFault] = []
        if self.stall:
            found.append("stall")
        if self.trickle:
            found.append("trickle")
        if self.cut_after is not None:
            found.append("stream_cut")
        if self.malformed_at is not None:
            found.append("malformed_chunk")
        return tuple(found)


def messages_digest(messages: Any) -> bytes:
    """A stable hash of the request's messages (key order does not matter)."""
    return hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).digest()


def request_rng(seed: int, model: str, digest: bytes, counter: int) -> Random:
    material = b"|".join((str(seed).encode(), model.encode(), digest, str(counter).encode()))
    return Random(int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big"))


def paired_draw(seed: int, messages: Any) -> float:
    """The prompt's one uniform draw of answer quality, the same for every model and every call
    (`paired_quality_draws`): no model name and no request counter in it."""
    return request_rng(seed, "#paired-quality", messages_digest(messages), 0).random()


def draw_failure(profile: ModelProfile, rng: Random) -> FailureKind | None:
    """At most one request-level failure; the probabilities are disjoint slices of [0, 1)."""
    u = rng.random()  # always drawn, so the draws after it do not depend on the outcome
    if profile.down:
        return "down"
    f = profile.failures
    edge = 0.0
    for kind, p in (
        ("error_5xx", f.error_5xx),
        ("error_429", f.error_429),
        ("timeout", f.timeout),
        ("malformed", f.malformed),
    ):
        edge += p
        if u < edge:
            return kind  # type: ignore[return-value]
    return None


def draw_stream_plan(f: Failures, rng: Random, n_chunks: int) -> StreamPlan:
    """Independent draws for each streaming fault."""
    stall, trickle, cut, bad = rng.random(), rng.random(), rng.random(), rng.random()
    return StreamPlan(
        stall=stall < f.stall,
        trickle=trickle < f.trickle,
        cut_after=min(f.stream_cut_after, n_chunks) if cut < f.stream_cut else None,
        malformed_at=n_chunks // 2 if bad < f.malformed_chunk else None,
    )


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    """OpenAI's error shape."""
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def failure_status(kind: FailureKind, rng: Random) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers of a request-level failure answered with an HTTP error."""
    if kind == "error_429":
        body = error_body("Rate limit reached for requests. Please retry.", "requests",
                          "rate_limit_exceeded")  # fmt: skip
        return 429, body, {"retry-after": "1"}
    if kind == "timeout":
        return 504, error_body("The upstream timed out.", "server_error", "timeout"), {}
    if kind == "down":
        return 503, error_body("The model is down.", "server_error", "model_unavailable"), {}
    status = (500, 502, 503)[rng.randrange(3)]
    body = error_body("The server had an error while processing your request.", "server_error",
                      "server_error")  # fmt: skip
    return status, body, {}


def malformed_body(rng: Random, completion_id: str) -> bytes:
    """A 200 body that is not valid JSON, or valid JSON without `choices`."""
    if rng.random() < 0.5:
        return b'{"id": "' + completion_id.encode() + b'", "object": "chat.completion", "choi'
    return orjson.dumps({"id": completion_id, "object": "chat.completion", "model": "?"})
