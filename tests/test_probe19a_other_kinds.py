"""probe19a: the Responses API (with tools, whole and streamed), embeddings, a cascade, and a client
that leaves mid-stream / mid-failover / mid-cascade, under upstream faults, against a real
`arbiter serve` through the official SDKs (tests/probe19a_harness.py for the rig and the checks).
"""

from __future__ import annotations

import socket
import time
from typing import Any

import openai
import orjson
import pytest

from tests.fault_upstream import WORDS
from tests.probe19a_harness import NOT_BILLED, Rig, check_books, rig_fixture, rigs_fixture, strict  # noqa: F401  (the fixtures)

ANSWER = "".join(WORDS)
FAULTS = ["ok", "status@429:1", "status@500", "stall@10", "truncated", "cutjson", "html",
          "oversized@200000", "nousage"]  # fmt: skip
TOOLS = [{"type": "function", "name": "lookup",
          "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}}]  # fmt: skip
EXTRACTION = "Extract every person's name from this text as a list: Ada met Grace and Alan."


def _error_ok(err: openai.APIStatusError) -> str:
    assert err.status_code != 500 and err.status_code >= 400, err
    body = err.response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return str(err.response.headers["x-arbiter-decision-id"])


@pytest.mark.parametrize("model", ["auto", "oa-1"])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_responses_call_with_tools_under_a_fault(rig: Rig, fault: str, model: str) -> None:
    rig.up.reset(oa_1=fault)
    before = rig.snapshot()
    try:
        raw = rig.gpt.responses.with_raw_response.create(
            model=model,
            input="Look up item 3.",
            tools=TOOLS,  # type: ignore[arg-type]
        )
    except openai.APIStatusError as err:
        assert model == "oa-1", err
        check_books(rig, before, _error_ok(err), "failed", whole=True)
        return
    answer = strict(raw.parse())
    calls = [o for o in answer.output if o.type == "function_call"]
    assert len(calls) == 2 and all(c.name == "lookup" for c in calls), answer.output
    check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=fault != "nousage",
                counted=fault == "nousage")  # fmt: skip


@pytest.mark.parametrize("fault", ["ok", "reset@0", "reset@1", "reset@3", "reset@7", "reset@8",
                                   "malformed@2", "midstall@3"])  # fmt: skip
def test_a_streamed_responses_call_under_a_fault(rig: Rig, fault: str) -> None:
    rig.up.reset(oa_1=fault)
    before = rig.snapshot()
    text, completed = "", False
    try:
        raw = rig.gpt.responses.with_raw_response.create(
            model="oa-1", input="Say hello.", stream=True
        )
    except openai.APIStatusError as err:
        check_books(rig, before, _error_ok(err), "failed", whole=True)
        return
    try:
        for event in raw.parse():
            strict(event)
            if event.type == "response.output_text.delta":
                text += event.delta
            completed = completed or event.type == "response.completed"
    except openai.APIError as err:
        assert err.message, err
    assert ANSWER.startswith(text), text
    whole = completed and text == ANSWER
    check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok" if whole else "failed",
                whole=whole)  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
def test_embeddings_under_a_fault(rig: Rig, fault: str) -> None:
    rig.up.reset(em_1=fault)
    before = rig.snapshot()
    try:
        raw = rig.gpt.embeddings.with_raw_response.create(model="em-1", input=["one", "two"])
    except openai.APIStatusError as err:
        check_books(rig, before, _error_ok(err), "failed", whole=True)
        return
    out = strict(raw.parse())
    assert [d.index for d in out.data] == [0, 1], out
    check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=fault != "nousage")


@pytest.mark.parametrize("escalated_fault", ["ok", "status@500", "status@429", "truncated"])
@pytest.mark.parametrize("first_fault", ["ok", "status@500", "cutjson"])
def test_a_cascade_under_a_fault(rig: Rig, first_fault: str, escalated_fault: str) -> None:
    """extraction cascades (cascade_all: oa-1 first, then oa-2, the baseline, when the first answer
    is under cascade_min_answer_tokens): a fault on either step."""
    rig.up.reset(oa_1=first_fault, oa_2=escalated_fault)
    before = rig.snapshot()
    try:
        raw = rig.gpt.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": EXTRACTION}]
        )
    except openai.APIStatusError as err:
        record = check_books(rig, before, _error_ok(err), "failed", whole=True)
        assert first_fault != "ok" and escalated_fault != "ok", record
        return
    assert strict(raw.parse()).choices[0].message.content == ANSWER
    record = check_books(rig, before, raw.headers["x-arbiter-decision-id"], "ok", whole=True)
    assert record["task"] == "extraction", record
    models = [p for p, _, _ in rig.up.calls]
    assert models, record


def _raw_request(rig: Rig, path: str, body: dict[str, Any]) -> socket.socket:
    raw = orjson.dumps(body)
    sock = socket.create_connection(("127.0.0.1", rig.sidecar.port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {rig.key}\r\n"
        "anthropic-version: 2023-06-01\r\n"
        f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n\r\n".encode()
        + raw
    )
    return sock


def _leave(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # an RST, as a client killed mid-request


def _latest_decision(rig: Rig, since: float) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        feed = rig.get("/arbiter/decisions?limit=5").json()["data"]
        fresh = [d for d in feed if d["ts"] >= since]
        if fresh:
            assert len(fresh) == 1, fresh
            return dict(fresh[0])
        assert time.monotonic() < deadline, "the left request's decision was never recorded"
        time.sleep(0.05)


HI = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"


@pytest.mark.parametrize(
    ("where", "script", "path", "body", "waits_on"),
    [
        ("mid-stream", {"oa_1": "midstall@3"}, CHAT,
         {"model": "oa-1", "stream": True, "messages": HI,
          "stream_options": {"include_usage": True}}, "oa-1"),
        ("before-first-event", {"oa_1": "midstall@0"}, CHAT,
         {"model": "oa-1", "stream": True, "messages": HI}, "oa-1"),
        ("mid-failover", {"oa_1": "stall@1.0", "oa_2": "stall@10"}, CHAT,
         {"model": "auto", "messages": HI}, "oa-2"),
        ("mid-failover-stream", {"oa_1": "status@500", "oa_2": "stall@10"}, CHAT,
         {"model": "auto", "stream": True, "messages": HI}, "oa-2"),
        ("mid-retry-after", {"oa_1": "status@429:1"}, CHAT,
         {"model": "oa-1", "messages": HI}, "oa-1"),
        ("mid-cascade", {"oa_1": "ok", "oa_2": "stall@10"}, CHAT,
         {"model": "auto", "messages": [{"role": "user", "content": EXTRACTION}]}, "oa-2"),
        ("anthropic-mid-stream", {"an_1": "midstall@3"}, "/v1/messages",
         {"model": "an-1", "max_tokens": 64, "stream": True, "messages": HI}, "an-1"),
        ("responses-mid-stream", {"oa_1": "midstall@3"}, "/v1/responses",
         {"model": "oa-1", "stream": True, "input": "hi"}, "oa-1"),
    ],
)  # fmt: skip
def test_a_client_that_leaves(
    rig: Rig, where: str, script: dict[str, str], path: str, body: dict[str, Any], waits_on: str
) -> None:
    """The client resets its connection while the sidecar waits on a stalled (or rate-limited)
    upstream: one failed decision, its cost what the caps spent (never under the bill), nothing
    left reserved, /metrics moved once; and no upstream call is started after it left."""
    rig.up.reset(**script)
    before = rig.snapshot()
    since = time.time()
    sock = _raw_request(rig, path, body)
    deadline = time.monotonic() + 5
    while not any(m == waits_on for _, m, _ in rig.up.calls):  # the stalled call is on
        assert time.monotonic() < deadline, rig.up.calls
        time.sleep(0.02)
    time.sleep(0.3)
    calls = len(rig.up.calls)
    _leave(sock)
    record = _latest_decision(rig, since)
    assert record["status"] == "failed", record
    check_books(rig, before, record["id"], "failed", whole=False)
    time.sleep(1.2)  # past the Retry-After (1 s) the mid-retry-after cell's upstream asked for
    assert len(rig.up.calls) == calls, (rig.up.calls, record)
