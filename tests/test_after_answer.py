"""A request's learning runs after its answer has left (after_answer.py): the answer's bytes
are written before the first learning step runs; a step that raises leaves the answer, the
requests after it and the steps after it intact, and is counted on /metrics; a step deferred
outside a request runs at once; a real sidecar stopped by SIGTERM right after an answer keeps
the answer's decision and what it learned."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from arbiter import decision_record, request_log
from arbiter.after_answer import AfterAnswer
from arbiter.store import open_store
from arbiter.upstream.http import HTTPProvider
from tests.conftest import Sidecar
from tests.fake_connection import connect
from tests.inproc import sidecar_in_process
from tests.waiting import until_async

BODY = orjson.dumps({"model": "sim-small", "messages": [{"role": "user", "content": "Say hi."}]})


def _raw_request(key: str, stream: bool = False) -> bytes:
    body = BODY if not stream else BODY[:-1] + b',"stream":true}'
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\nauthorization: Bearer " + key.encode()
        + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


def _whole_answer(out: bytes) -> bool:
    """A whole 200 answer: its declared length, or a stream's [DONE] and last chunk."""
    head, sep, body = out.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.1 200"):
        return False
    lines = [line.lower() for line in head.split(b"\r\n")[1:]]
    if b"transfer-encoding: chunked" in lines:
        return b"data: [DONE]" in body and body.endswith(b"\r\n0\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:")
    )
    return len(body) >= length


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_the_answer_is_written_before_a_slow_learning_step_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    """Through the sidecar's own protocol (step_writes.py under uvicorn's): when the latency
    model's and the metrics' observers run, and while a slow one runs, the whole answer (a
    stream's last event and its end too) is already on the connection."""
    seen: dict[str, bytes] = {}

    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            proto, transport, _ = connect(sc.app)
            real_latency = decision_record.observe_attempts
            real_metrics = sc.services.metrics.observe_decision

            def slow_latency(*args: Any, **kw: Any) -> None:
                seen["latency"] = bytes(transport.out)
                time.sleep(0.3)  # slow: the loop is held, nothing more is written meanwhile
                real_latency(*args, **kw)

            def metrics(d: Any) -> None:
                seen["metrics"] = bytes(transport.out)
                real_metrics(d)

            monkeypatch.setattr(decision_record, "observe_attempts", slow_latency)
            monkeypatch.setattr(sc.services.metrics, "observe_decision", metrics)
            proto.data_received(_raw_request(sc.api_key, stream))
            await until_async(lambda: len(seen) == 2, "both learning steps ran")
            await until_async(lambda: _whole_answer(bytes(transport.out)), "answered")
            proto.connection_lost(None)

    asyncio.run(go())
    assert _whole_answer(seen["latency"]), seen["latency"][:200]
    assert _whole_answer(seen["metrics"]), seen["metrics"][:200]


def test_a_failing_learning_step_is_counted_and_the_answers_stand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The latency model's observer raises on the first answer: that answer is served whole,
    the next request is answered and learned from, and /metrics counts the one failure."""
    calls: list[int] = []
    real = decision_record.observe_attempts

    def failing_once(*args: Any, **kw: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a learning bug")
        real(*args, **kw)

    monkeypatch.setattr(decision_record, "observe_attempts", failing_once)

    async def go() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            requests_before = sc.services.metrics.requests_total()
            for _ in range(2):
                r = await sc.client.post("/v1/chat/completions", content=BODY, headers=sc.auth)
                assert r.status_code == 200, r.text
                assert r.json()["choices"][0]["message"]["content"]
            assert len(calls) == 2
            # the step after the failing one (the decision's metrics) still ran, both times
            assert sc.services.metrics.requests_total() == requests_before + 2
            r = await sc.client.get("/metrics", headers=sc.admin)
            assert "\narbiter_after_answer_errors_total 1\n" in r.text

    asyncio.run(go())


def test_steps_run_in_order_and_at_once_outside_a_request() -> None:
    after = AfterAnswer()
    ran: list[str] = []
    after.defer(ran.append, "now")  # no request being served: at once
    assert ran == ["now"]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        after.defer(ran.append, "a")
        after.defer(ran.append, "b")
        assert ran == ["now"]  # held while the request is served

    asyncio.run(after.serve(app, {}, None, None))  # type: ignore[arg-type]
    assert ran == ["now", "a", "b"]


def test_a_sigterm_right_after_an_answer_keeps_its_decision_and_its_learning(
    sidecar: Sidecar, api_key: str, sidecar_config: Path
) -> None:
    """A real `arbiter serve` stopped by SIGTERM the moment its answer arrived: the decision is
    in the store, and so is what the latency model learned from the call (the final sync)."""
    client = openai.OpenAI(api_key=api_key, base_url=sidecar.base_url, max_retries=0)
    with client:
        raw = client.chat.completions.with_raw_response.create(
            model="sim-small", messages=[{"role": "user", "content": "Say hi."}]
        )
    sidecar.stop(signal.SIGTERM)
    assert sidecar.proc.proc is not None and sidecar.proc.proc.poll() is not None  # it ended
    decision_id = raw.headers["x-arbiter-decision-id"]
    store = open_store(f"sqlite:///{sidecar_config.parent / 'arbiter.db'}")
    try:
        decision = store.decision(decision_id)
        assert decision is not None and decision["chosen_model"] == "sim-small", decision
        learned = [r for r in store.load_latency() if r.model == "sim-small"]
        assert learned and learned[0].calls >= 1, learned
    finally:
        store.close()


def test_a_shadow_call_made_after_the_answer_carries_the_requests_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grading hand-off runs after the answer, in the request's context: the challenger's
    shadow call still sends the client's request id upstream (upstream/http.py), as the
    answering call does."""
    sent: list[str | None] = []
    real = HTTPProvider._post

    async def spy(self: HTTPProvider, *args: Any, **kw: Any) -> Any:
        ctx = request_log.CURRENT.get()
        sent.append(ctx.id if ctx is not None else None)
        return await real(self, *args, **kw)

    monkeypatch.setattr(HTTPProvider, "_post", spy)
    shadow = '\n[shadow]\nchallengers = ["sim-small"]\nsample_rate = 1.0\nbudget_usd = 10.0\n'

    async def go() -> None:
        async with sidecar_in_process(tmp_path, edit_config=lambda t: t + shadow) as sc:
            body = {"model": "auto", "messages": [{"role": "user", "content": "What is 7 * 6?"}]}
            r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
            assert r.status_code == 200, r.text
            await sc.services.shadow.drain()
            assert sent == [r.headers["x-arbiter-request-id"]] * 2, sent

    asyncio.run(go())
