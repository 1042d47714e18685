"""failover.py: retry/fallback order, attempts, deadline, the circuit breaker; and the OpenAI
upstream's error classification and stream priming (over httpx.MockTransport, no sockets)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from arbiter.config import BreakerSettings, FailoverSettings, ModelSettings, UpstreamSettings
from arbiter.errors import (
    ArbiterError,
    NoRouteAvailable,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from arbiter.failover import CircuitBreaker, is_retryable, run_with_failover
from arbiter.records import Attempt
from arbiter.upstream.http import retry_after
from arbiter.upstream.openai import OpenAIUpstream

FAST = FailoverSettings(deadline_s=5.0, retries_per_model=1, backoff_ms=1, max_models=3)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, cooldown: float = 10.0, clock: Clock | None = None) -> Any:
    opened: list[tuple[str, int]] = []
    b = CircuitBreaker(
        BreakerSettings(failure_threshold=threshold, cooldown_s=cooldown),
        on_open=lambda m, n: opened.append((m, n)),
        clock=clock or Clock(),
    )
    return b, opened


def scripted(script: dict[str, list[Any]]) -> tuple[Callable[[str], Awaitable[str]], list[str]]:
    """A call that, per model, raises or returns the next scripted item (a value or an error)."""
    calls: list[str] = []

    async def call(model: str) -> str:
        calls.append(model)
        item = script[model].pop(0)
        if isinstance(item, BaseException):
            raise item
        if callable(item):
            return await item()  # type: ignore[no-any-return]
        return str(item)

    return call, calls


def run(
    models: tuple[str, ...],
    call: Callable[[str], Awaitable[str]],
    b: CircuitBreaker | None = None,
    settings: FailoverSettings = FAST,
) -> tuple[tuple[str, str] | ArbiterError, list[Attempt]]:
    attempts: list[Attempt] = []
    cb = b or breaker()[0]

    async def go() -> tuple[str, str]:
        return await run_with_failover(
            models, call, settings=settings, breaker=cb, attempts=attempts
        )

    try:
        return asyncio.run(go()), attempts
    except ArbiterError as err:
        return err, attempts


# -- classification ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("err", "retry"),
    [
        (UpstreamError("x"), True),
        (UpstreamTimeout("x"), True),
        (UpstreamRateLimited("x"), True),
        (UpstreamUnavailable("x"), True),
        (UpstreamRejected("x", upstream_status=400), False),
        (NoRouteAvailable("x"), False),
        (ValueError("x"), False),
    ],
)
def test_only_upstream_faults_are_retryable(err: BaseException, retry: bool) -> None:
    assert is_retryable(err) is retry


# -- retries and fallback ---------------------------------------------------------------------
def test_first_success_records_one_ok_attempt() -> None:
    call, calls = scripted({"a": ["A"]})
    result, attempts = run(("a", "b"), call)
    assert result == ("a", "A")
    assert calls == ["a"]
    assert [(a.model, a.ok) for a in attempts] == [("a", True)]


def test_retry_same_model_then_succeed() -> None:
    call, calls = scripted({"a": [UpstreamUnavailable("a: 503"), "A"]})
    result, attempts = run(("a", "b"), call)
    assert result == ("a", "A")
    assert calls == ["a", "a"]
    assert [(a.model, a.ok, a.error) for a in attempts] == [
        ("a", False, "upstream_unavailable"),
        ("a", True, None),
    ]


def test_falls_back_after_retries_and_lists_every_attempt() -> None:
    call, calls = scripted(
        {"a": [UpstreamRateLimited("a: 429"), UpstreamTimeout("a: slow")], "b": ["B"]}
    )
    result, attempts = run(("a", "b", "c"), call)
    assert result == ("b", "B")
    assert calls == ["a", "a", "b"]
    assert [(a.model, a.error, a.status) for a in attempts] == [
        ("a", "upstream_rate_limited", 429),
        ("a", "upstream_timeout", 504),
        ("b", None, None),
    ]
    assert all(a.latency_ms >= 0 for a in attempts)


def test_callers_fault_is_returned_at_once_never_retried() -> None:
    rejected = UpstreamRejected("a: 400", upstream_status=400, body={"error": {}})
    call, calls = scripted({"a": [rejected], "b": ["B"]})
    result, attempts = run(("a", "b"), call)
    assert result is rejected
    assert calls == ["a"]
    assert [(a.model, a.status) for a in attempts] == [("a", 400)]


def test_every_model_failing_raises_the_last_error() -> None:
    call, calls = scripted(
        {m: [UpstreamUnavailable(f"{m}: 1"), UpstreamUnavailable(f"{m}: 2")] for m in "abc"}
    )
    result, attempts = run(("a", "b", "c"), call)
    assert isinstance(result, UpstreamUnavailable)
    assert result.message == "c: 2"
    assert len(attempts) == 6
    assert calls == ["a", "a", "b", "b", "c", "c"]


def test_max_models_bounds_the_fallback_chain() -> None:
    call, calls = scripted({m: [UpstreamError(m)] * 2 for m in "abc"})
    settings = FailoverSettings(retries_per_model=0, backoff_ms=0, max_models=2)
    result, _ = run(("a", "b", "c"), call, settings=settings)
    assert isinstance(result, UpstreamError)
    assert calls == ["a", "b"]


def test_total_deadline_bounds_a_hanging_call() -> None:
    async def hang() -> str:
        await asyncio.sleep(30)
        return "never"

    call, calls = scripted({"a": [hang, hang], "b": ["B"]})
    settings = FailoverSettings(deadline_s=0.2, retries_per_model=1, backoff_ms=1)
    # by the loop's timer order, not a wall-clock bound (it was `< 15 s`): the deadline's cut
    # and a 10x timer fire in deadline order however late a loaded host runs them, and the cut
    # raises without yielding again, so failover ends first unless the hang was not cut
    attempts: list[Attempt] = []
    ended: list[str] = []

    async def later() -> None:
        await asyncio.sleep(2.0)
        ended.append("10x the deadline")

    async def go() -> ArbiterError:
        witness = asyncio.get_running_loop().create_task(later())
        try:
            await run_with_failover(
                ("a", "b"), call, settings=settings, breaker=breaker()[0], attempts=attempts
            )
        except ArbiterError as err:
            return err
        finally:
            ended.append("failover")
            witness.cancel()
        raise AssertionError("the hang answered")

    result = asyncio.run(go())
    assert ended == ["failover"]
    assert isinstance(result, UpstreamTimeout)
    assert attempts[0].error == "upstream_timeout"
    assert "b" not in calls  # the deadline is for the whole request, not per model


def _run_within(
    models: tuple[str, ...], call: Callable[[str], Awaitable[str]], b: Any, deadline_s: float
) -> tuple[tuple[str, str] | ArbiterError, list[Attempt]]:
    attempts: list[Attempt] = []

    async def go() -> tuple[str, str]:
        return await run_with_failover(
            models, call, settings=FAST, breaker=b, attempts=attempts, deadline_s=deadline_s
        )

    try:
        return asyncio.run(go()), attempts
    except ArbiterError as err:
        return err, attempts


def test_a_deadline_too_short_to_try_any_model_is_a_504_not_open_circuits() -> None:
    """x-arbiter-max-latency-ms: 2 left no time for a call: it said "circuits open" (a 503
    that clients retry) while every circuit was closed."""
    call, calls = scripted({"a": ["A"]})
    result, attempts = _run_within(("a",), call, breaker()[0], deadline_s=0.001)
    assert isinstance(result, UpstreamTimeout) and result.http_status == 504, result
    assert "before any model could be called" in result.message
    assert calls == [] and attempts == []


def test_cuts_by_the_callers_deadline_do_not_open_the_circuit() -> None:
    """A latency SLO (a deadline shorter than the configured one) that cuts a healthy model's
    call says nothing against the model: before, a few tight SLOs opened its circuit and every
    other request then failed over or got a 503."""

    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    b, opened = breaker(threshold=2)
    for _ in range(4):
        call, _calls = scripted({"a": [slow]})
        result, attempts = _run_within(("a",), call, b, deadline_s=0.02)
        assert isinstance(result, UpstreamTimeout) and attempts[0].error == "upstream_timeout"
    assert opened == [] and b.available("a")
    # the configured deadline's cuts still count: a model that hangs past it is at fault
    settings = FailoverSettings(deadline_s=0.02, retries_per_model=0, backoff_ms=1)
    for _ in range(2):
        call, _calls = scripted({"a": [slow]})
        run(("a",), call, b, settings=settings)
    assert opened == [("a", 2)]


def test_backoff_grows_between_retries() -> None:
    call, _ = scripted({"a": [UpstreamError("1"), UpstreamError("2"), "A"]})
    settings = FailoverSettings(retries_per_model=2, backoff_ms=40, deadline_s=5)
    started = time.monotonic()
    result, _ = run(("a",), call, settings=settings)
    assert result == ("a", "A")
    # 40ms * U[0.5,1.5) + 80ms * U[0.5,1.5) >= 60ms
    assert time.monotonic() - started >= 0.06


# -- circuit breaker --------------------------------------------------------------------------
def test_breaker_opens_after_threshold_and_alerts_once() -> None:
    clock = Clock()
    b, opened = breaker(threshold=3, clock=clock)
    for _ in range(2):
        b.failure("a")
    assert b.available("a")
    assert b.state()["a"] == {"state": "closed", "consecutive_failures": 2}
    b.failure("a")
    assert not b.available("a")
    assert not b.acquire("a")
    assert opened == [("a", 3)]
    b.failure("a")  # a call that began before it opened: does not extend, does not re-alert
    assert opened == [("a", 3)]
    assert b.state()["a"]["state"] == "open"


def test_success_resets_the_consecutive_count() -> None:
    b, opened = breaker(threshold=3)
    b.failure("a")
    b.failure("a")
    b.success("a")
    b.failure("a")
    b.failure("a")
    assert b.available("a")
    assert opened == []


def test_half_open_lets_exactly_one_probe_through_and_closes_on_success() -> None:
    clock = Clock()
    b, _ = breaker(threshold=1, cooldown=10.0, clock=clock)
    b.failure("a")
    clock.now += 9.9
    assert not b.acquire("a")
    clock.now += 0.2
    assert b.state()["a"]["state"] == "half_open"
    assert b.available("a")
    assert b.acquire("a")  # the probe
    assert not b.available("a")
    assert [b.acquire("a") for _ in range(5)] == [False] * 5
    b.success("a")
    assert b.state() == {}
    assert all(b.acquire("a") for _ in range(5))


def test_reopens_in_is_the_time_until_the_first_open_circuit_lets_a_probe_through() -> None:
    clock = Clock()
    b, _ = breaker(threshold=1, cooldown=10.0, clock=clock)
    assert b.reopens_in(["a", "b"]) is None  # nothing open
    b.failure("a")
    clock.now += 4.0
    b.failure("b")
    b.hold("c", 30.0)  # a pause is not an open circuit
    assert b.reopens_in(["a", "b", "c"]) == pytest.approx(6.0)
    assert b.reopens_in(["b", "c"]) == pytest.approx(10.0)
    clock.now += 7.0
    assert b.acquire("a")  # half-open, its probe in flight: nothing to wait for
    assert b.reopens_in(["a", "b"]) == 0.0


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = Clock()
    b, opened = breaker(threshold=1, cooldown=10.0, clock=clock)
    b.failure("a")
    clock.now += 11
    assert b.acquire("a")
    b.failure("a")
    assert b.state()["a"]["state"] == "open"
    assert b.state()["a"]["probe_in_s"] == pytest.approx(10.0)
    clock.now += 9
    assert not b.acquire("a")
    clock.now += 2
    assert b.acquire("a")
    assert opened == [("a", 1)]  # one alert per opening, not per failed probe


def test_released_probe_frees_the_slot() -> None:
    clock = Clock()
    b, _ = breaker(threshold=1, cooldown=1.0, clock=clock)
    b.failure("a")
    clock.now += 2
    assert b.acquire("a")
    b.release("a")
    assert b.acquire("a")


def test_failover_skips_an_open_circuit_and_records_it() -> None:
    b, _ = breaker(threshold=1)
    b.failure("a")
    call, calls = scripted({"b": ["B"]})
    result, attempts = run(("a", "b"), call, b)
    assert result == ("b", "B")
    assert calls == ["b"]
    assert [(a.model, a.error) for a in attempts] == [("a", "circuit_open"), ("b", None)]


def test_all_circuits_open_is_a_clean_503() -> None:
    b, _ = breaker(threshold=1)
    b.failure("a")
    b.failure("b")
    call, calls = scripted({})
    result, _ = run(("a", "b"), call, b)
    assert isinstance(result, NoRouteAvailable)
    assert result.status == 503
    assert calls == []


def test_circuit_opening_mid_retries_moves_on() -> None:
    b, opened = breaker(threshold=1)
    call, calls = scripted({"a": [UpstreamError("a")], "b": ["B"]})
    result, attempts = run(("a", "b"), call, b)
    assert result == ("b", "B")
    assert calls == ["a", "b"]
    assert opened == [("a", 1)]
    assert [a.error for a in attempts] == ["upstream_error", None]


def test_concurrent_requests_share_one_half_open_probe() -> None:
    clock = Clock()
    b, _ = breaker(threshold=1, cooldown=1.0, clock=clock)
    b.failure("a")
    clock.now += 2
    gate = asyncio.Event()
    calls: list[str] = []

    async def call(model: str) -> str:
        calls.append(model)
        if model == "a":
            await gate.wait()
        return model.upper()

    async def go() -> list[tuple[str, str]]:
        tasks = [
            asyncio.create_task(
                run_with_failover(("a", "b"), call, settings=FAST, breaker=b, attempts=[])
            )
            for _ in range(5)
        ]
        await asyncio.sleep(0.05)
        gate.set()
        return list(await asyncio.gather(*tasks))

    results = asyncio.run(go())
    assert sorted(results) == [("a", "A")] + [("b", "B")] * 4
    assert calls.count("a") == 1
    assert b.state() == {}  # the probe succeeded: closed


def test_a_cancelled_probe_releases_the_slot() -> None:
    clock = Clock()
    b, _ = breaker(threshold=1, cooldown=1.0, clock=clock)
    b.failure("a")
    clock.now += 2

    async def call(model: str) -> str:
        await asyncio.sleep(30)
        return "never"

    async def go() -> None:
        task = asyncio.create_task(
            run_with_failover(("a",), call, settings=FAST, breaker=b, attempts=[])
        )
        await asyncio.sleep(0.02)
        assert not b.available("a")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert b.acquire("a")


# -- Retry-After ------------------------------------------------------------------------------
def rate_limited(seconds: float) -> UpstreamRateLimited:
    err = UpstreamRateLimited("a: 429")
    err.retry_after_s = seconds
    return err


def test_retry_after_moves_on_to_the_next_model_and_pauses_the_limited_one() -> None:
    clock = Clock()
    b, _ = breaker(threshold=5, clock=clock)
    call, calls = scripted({"a": [rate_limited(30)], "b": ["B", "B2"]})
    result, _ = run(("a", "b"), call, b)
    assert result == ("b", "B")
    assert calls == ["a", "b"]  # no pointless retry of a model that asked for 30 s
    assert b.held("a") and b.state()["a"]["held_for_s"] == 30
    result, attempts = run(("a", "b"), call, b)  # the next request skips it at once
    assert result == ("b", "B2")
    assert [(a.model, a.error) for a in attempts] == [("a", "upstream_paused"), ("b", None)]
    clock.now += 31
    assert not b.held("a")


def test_a_paused_model_that_is_the_last_one_left_is_still_called() -> None:
    """A pause is not a circuit: with nothing else to try, the upstream answers for itself."""
    b, _ = breaker(threshold=5)
    b.hold("a", 30)
    call, _ = scripted({"a": ["A"]})
    result, _ = run(("a",), call, b)
    assert result == ("a", "A")
    assert not b.held("a")  # it answered: the pause is over


def test_a_paused_model_is_the_last_resort_when_the_others_fail() -> None:
    b, _ = breaker(threshold=5)
    b.hold("a", 30)
    down = UpstreamUnavailable("b: 503")
    call, calls = scripted({"a": ["A"], "b": [down, down]})
    result, attempts = run(("a", "b"), call, b)
    assert result == ("a", "A")  # never failed without asking the paused model
    assert calls == ["b", "b", "a"]
    assert [(x.model, x.error) for x in attempts] == [
        ("a", "upstream_paused"), ("b", "upstream_unavailable"), ("b", "upstream_unavailable"),
        ("a", None),
    ]  # fmt: skip


def test_a_model_that_asks_for_a_pause_mid_request_is_asked_again_last() -> None:
    real_clock = CircuitBreaker(BreakerSettings(failure_threshold=5, cooldown_s=10.0))
    down = UpstreamUnavailable("b: 503")
    call, calls = scripted({"a": [rate_limited(0.1), "A"], "b": [down, down]})
    result, _ = run(("a", "b"), call, real_clock)
    assert result == ("a", "A")
    assert calls == ["a", "b", "b", "a"]  # b first while a's pause runs, then a after it


def test_a_long_retry_after_mid_request_is_not_asked_again_in_that_request() -> None:
    """probe27b: a and b both answer 429 with Retry-After 30 (past max_retry_after_s): each
    was requeued and called again at once, the pause it had just asked for ignored; the
    request now fails with the upstream's own 429 after one call to each."""
    b, _ = breaker(threshold=5)
    call, calls = scripted({"a": [rate_limited(30), "A"], "b": [rate_limited(30), "B"]})
    result, attempts = run(("a", "b"), call, b)
    assert isinstance(result, UpstreamRateLimited)
    assert calls == ["a", "b"]
    assert [(x.model, x.error) for x in attempts] == [
        ("a", "upstream_rate_limited"), ("b", "upstream_rate_limited"),
    ]  # fmt: skip


def test_a_short_retry_after_on_the_last_model_is_sat_out() -> None:
    call, calls = scripted({"a": [rate_limited(0.2), "A"]})
    started = time.monotonic()
    real_clock = CircuitBreaker(BreakerSettings(failure_threshold=5, cooldown_s=10.0))
    result, _ = run(("a",), call, real_clock)
    assert result == ("a", "A")
    assert calls == ["a", "a"]
    assert time.monotonic() - started >= 0.2


def test_a_long_retry_after_on_the_last_model_fails_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call, calls = scripted({"a": [rate_limited(60), "A"]})
    # "at once": failover's pauses are counted, not timed (it was `< 30 s` of wall clock); it
    # sits out a pause with asyncio.sleep, and sits out none here
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def counted_sleep(seconds: float, *args: Any) -> Any:
        slept.append(seconds)
        return await real_sleep(seconds, *args)

    monkeypatch.setattr(asyncio, "sleep", counted_sleep)
    result, _ = run(("a",), call)
    assert isinstance(result, UpstreamRateLimited)
    assert calls == ["a"]
    assert slept == []  # not the 60 s asked for, nor the rest of the deadline


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after": "Wed, 25 Nov 2026 20:00:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 25 Nov 2026 19:59:00 GMT"}, 0.0),  # already past
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], seconds: float | None) -> None:
    now = datetime(2026, 11, 25, 20, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after(httpx.Headers(headers), now=now) == seconds


def test_an_upstream_429_carries_its_retry_after() -> None:
    body = {"error": {"message": "slow down", "type": "x", "param": None, "code": None}}
    up = upstream(lambda request: httpx.Response(429, json=body, headers={"retry-after": "3"}))
    with pytest.raises(UpstreamRateLimited) as info:
        asyncio.run(up.complete({"messages": []}, MODEL))
    assert info.value.retry_after_s == 3.0


# -- the OpenAI upstream ----------------------------------------------------------------------
MODEL = ModelSettings("m", "up", 1.0, 2.0, upstream_model="m-at-upstream")


def upstream(handler: Callable[[httpx.Request], httpx.Response], **limits: int) -> OpenAIUpstream:
    return OpenAIUpstream(  # no sockets: a mock transport answers
        UpstreamSettings("up", "http://upstream.test/v1", **limits),  # type: ignore[arg-type]
        FailoverSettings(),
        transport=httpx.MockTransport(handler),
    )


def chunk(content: str | None = None, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    if content is not None:
        delta["content"] = content
    body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


def sse(*events: bytes) -> Callable[[httpx.Request], httpx.Response]:
    """An SSE body delivered in exactly these network reads."""

    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    return lambda request: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=body()
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, UpstreamUnavailable),
        (503, UpstreamUnavailable),
        (429, UpstreamRateLimited),
        (504, UpstreamTimeout),
        (401, UpstreamUnavailable),  # the operator's key, not the caller's fault
        (400, UpstreamRejected),
        (422, UpstreamRejected),
    ],
)
def test_http_errors_are_classified(
    status: int, kind: type[UpstreamError], caplog: pytest.LogCaptureFixture
) -> None:
    body = {"error": {"message": "nope sk-abc1****wxyz", "type": "x", "param": None, "code": None}}
    up = upstream(lambda request: httpx.Response(status, json=body))
    with caplog.at_level("WARNING", logger="arbiter.upstream.openai"), pytest.raises(kind) as info:
        asyncio.run(up.complete({"messages": []}, MODEL))
    assert type(info.value) is kind
    # the client sees the status in our words; the upstream's text only reaches the operator log
    assert info.value.message.startswith(f"upstream m returned HTTP {status} (")
    assert "nope" not in info.value.message and "sk-abc1" not in info.value.message
    assert "sk-abc1****wxyz" in caplog.text
    assert is_retryable(info.value) is (kind is not UpstreamRejected)


def test_a_rejected_request_keeps_the_upstreams_machine_code_and_param() -> None:
    body = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens (key sk-abc1****wxyz)",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    up = upstream(lambda request: httpx.Response(400, json=body))
    with pytest.raises(UpstreamRejected) as info:
        asyncio.run(up.complete({"messages": []}, MODEL))
    err = info.value
    assert err.message == "upstream m returned HTTP 400 (bad request): context_length_exceeded"
    assert err.param == "messages" and err.http_status == 400
    prose = {"error": {"message": "x", "code": "has spaces: sk-abc1****wxyz", "param": "a b"}}
    up = upstream(lambda request: httpx.Response(422, json=prose))
    with pytest.raises(UpstreamRejected) as info:
        asyncio.run(up.complete({"messages": []}, MODEL))
    assert info.value.message == "upstream m returned HTTP 422 (unprocessable request)"
    assert info.value.param is None


def test_a_complete_answer_is_marked_openai() -> None:
    answer = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]}
    up = upstream(lambda request: httpx.Response(200, json=answer))
    result = asyncio.run(up.complete({"messages": []}, MODEL))
    assert result.protocol == "openai" and result.content == "hi"


def test_a_connection_failure_names_no_host() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] connect to upstream.test:443 failed")

    with pytest.raises(UpstreamUnavailable) as info:
        asyncio.run(upstream(refuse).complete({"messages": []}, MODEL))
    assert "upstream.test" not in info.value.message and "ConnectError" in info.value.message


@pytest.mark.parametrize(
    "payload",
    [b'{"id": "x", "choi', b'{"id": "x"}', b"[]", b'{"choices": []}', b'{"choices": [{"x": 1}]}'],
)
def test_malformed_non_streaming_body_is_a_retryable_upstream_error(payload: bytes) -> None:
    up = upstream(lambda request: httpx.Response(200, content=payload))
    with pytest.raises(UpstreamError) as info:
        asyncio.run(up.complete({"messages": []}, MODEL))
    assert is_retryable(info.value)


def test_stream_holds_the_opening_chunk_until_the_first_token() -> None:
    up = upstream(sse(chunk(role=True), chunk("Hel"), chunk("lo"), chunk(finish="stop"),
                      b"data: [DONE]\n\n"))  # fmt: skip

    async def go() -> tuple[list[bytes], bool]:
        stream = await up.open_stream({"messages": []}, MODEL)
        assert stream.protocol == up.protocol == "openai"
        events = [e async for e in stream.events()]
        await stream.aclose()
        return events, stream.done

    events, done = asyncio.run(go())
    assert len(events) == 4
    assert done


@pytest.mark.parametrize(
    "events",
    [
        (chunk(role=True),),  # cut before the first token
        (chunk(role=True), b'data: {"id": "c", "choices": [{"delta": {"conte\n\n'),  # garbage
        (b'data: {"error": {"message": "overloaded"}}\n\n',),  # an error event first
        (),  # nothing at all
    ],
)
def test_stream_failing_before_its_first_token_fails_open_stream(events: tuple[bytes, ...]) -> None:
    up = upstream(sse(*events))
    with pytest.raises(UpstreamError) as info:
        asyncio.run(up.open_stream({"messages": []}, MODEL))
    assert is_retryable(info.value)


def test_stream_cut_after_tokens_is_not_done() -> None:
    up = upstream(sse(chunk(role=True), chunk("Hel")))

    async def go() -> bool:
        stream = await up.open_stream({"messages": []}, MODEL)
        assert [e async for e in stream.events()]
        await stream.aclose()
        return stream.done

    assert asyncio.run(go()) is False


def test_stream_request_always_asks_the_upstream_for_usage() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return sse(chunk("x"), chunk(finish="stop"), b"data: [DONE]\n\n")(request)

    up = upstream(handler)

    async def go() -> None:
        stream = await up.open_stream({"messages": [], "stream_options": {"x": 1}}, MODEL)
        await stream.aclose()

    asyncio.run(go())
    sent = orjson.loads(seen[0])
    assert sent["stream"] is True
    assert sent["stream_options"] == {"x": 1, "include_usage": True}
    assert sent["model"] == "m-at-upstream"


async def events_of(up: OpenAIUpstream) -> tuple[list[bytes], bool]:
    stream = await up.open_stream({"messages": []}, MODEL)
    out = [event async for event in stream.events()]
    await stream.aclose()
    return out, stream.done


def test_stream_lines_split_across_reads_and_crlf_are_reassembled() -> None:
    body = (
        chunk(role=True) + chunk("Hel") + chunk("lo") + chunk(finish="stop") + b"data: [DONE]\n\n"
    )
    body = body.replace(b"\n", b"\r\n")
    cuts = [0, 7, 8, 60, 61, 150, len(body) - 3, len(body)]  # mid-"data:", mid-JSON, mid-CRLF
    up = upstream(sse(*(body[a:b] for a, b in itertools.pairwise(cuts))))
    events, done = asyncio.run(events_of(up))
    texts = [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events]
    assert texts == ["", "Hel", "lo", None]
    assert done


def test_comments_and_event_names_are_skipped() -> None:
    up = upstream(sse(b": keep-alive\n\nevent: message\n" + chunk("a"), chunk(finish="stop"),
                         b"data: [DONE]\n\n"))  # fmt: skip
    events, done = asyncio.run(events_of(up))
    assert len(events) == 2
    assert done


def test_usage_is_read_from_the_stream_and_nothing_after_done_counts() -> None:
    counts = b'{"prompt_tokens": 3, "completion_tokens": 2}'
    usage = b'data: {"id": "c", "choices": [], "usage": ' + counts + b"}\n\n"
    up = upstream(sse(chunk("a"), chunk(finish="stop") + usage + b"data: [DONE]\n\n" + chunk("x")))

    async def go() -> tuple[int, Any]:
        stream = await up.open_stream({"messages": []}, MODEL)
        n = len([e async for e in stream.events()])
        await stream.aclose()
        return n, stream.usage

    n, got = asyncio.run(go())
    assert n == 3
    assert (got.prompt_tokens, got.completion_tokens) == (3, 2)


# -- bounded memory per request -----------------------------------------------------------------
KIB = 1024


def counted(pieces: list[bytes], read: list[int]) -> Callable[[httpx.Request], httpx.Response]:
    """An SSE body of these network reads, counting how many of them were read."""

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            read.append(len(piece))
            yield piece

    return lambda request: httpx.Response(200, content=body())


def test_an_over_long_sse_line_before_the_first_token_fails_over_having_read_little() -> None:
    read: list[int] = []
    endless = [b'data: {"id": "c", "choices": [{"delta": {"content": "'] + [b"x" * 4 * KIB] * 2048
    up = upstream(counted([chunk(role=True), *endless], read), max_event_bytes=64 * KIB)
    with pytest.raises(UpstreamError, match="longer than 65536 bytes") as info:
        asyncio.run(up.open_stream({"messages": []}, MODEL))
    assert is_retryable(info.value)  # before the first token: another model may answer
    assert sum(read) < 80 * KIB  # it stopped at the limit, not at the 8 MiB the upstream had


def test_an_over_long_sse_line_mid_stream_fails_the_stream() -> None:
    huge = b'data: {"id": "c", "choices": [{"delta": {"content": "' + b"y" * 100 * KIB
    up = upstream(sse(chunk("Hel"), chunk("lo") + huge, b'"}}]}\n\n', b"data: [DONE]\n\n"),
                  max_event_bytes=64 * KIB)  # fmt: skip

    async def go() -> list[bytes]:
        stream = await up.open_stream({"messages": []}, MODEL)
        got: list[bytes] = []
        try:
            async for event in stream.events():
                got.append(event)
        finally:
            await stream.aclose()
        return got

    with pytest.raises(UpstreamError, match="longer than"):
        asyncio.run(go())


def test_lines_up_to_the_limit_pass_whole_however_they_are_cut() -> None:
    text = "z" * (60 * KIB)
    body = chunk(text) + chunk(finish="stop") + b"data: [DONE]\n\n"
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    up = upstream(sse(*pieces), max_event_bytes=64 * KIB)
    events, done = asyncio.run(events_of(up))
    assert orjson.loads(events[0])["choices"][0]["delta"]["content"] == text
    assert done


def test_a_stream_larger_than_the_response_limit_fails() -> None:
    many = [chunk("w" * 1000)] * 100
    up = upstream(sse(chunk("a"), *many, b"data: [DONE]\n\n"),
                  max_event_bytes=KIB * 4, max_response_bytes=64 * KIB)  # fmt: skip
    with pytest.raises(UpstreamError, match="response limit"):
        asyncio.run(events_of(up))


def test_a_non_streaming_answer_larger_than_the_response_limit_fails_over() -> None:
    read: list[int] = []
    pieces = [b'{"choices": [{"message": {"content": "'] + [b"v" * 4 * KIB] * 512
    up = upstream(counted(pieces, read), max_event_bytes=KIB, max_response_bytes=64 * KIB)
    with pytest.raises(UpstreamError, match="larger than 65536 bytes") as info:
        asyncio.run(up.complete({"messages": []}, MODEL))
    assert is_retryable(info.value)
    assert sum(read) < 80 * KIB
