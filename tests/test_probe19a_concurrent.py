"""probe19a: the fault matrix at once: a bounded burst of concurrent requests of every kind, each
with its own fault (named in its text: fault_upstream._marked_fault), and clients that leave
mid-stream among them; then the books must add up across all of them: the decisions' costs sum
to the caps' spend and to /metrics' cost, each request has one decision, nothing stays reserved.
"""

from __future__ import annotations

import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.probe19a_harness import DEADLINE_S, Rig, rig_fixture, rigs_fixture  # noqa: F401  (the fixtures)

REQUESTS = 48  # bounded: the burst is this many requests, each under the deadline
FAULTS = ["ok", "status@500", "status@429:1", "reset@0", "reset@3", "reset@7", "malformed@2",
          "midstall@3", "truncated", "cutjson", "nousage", "absurd", "html"]  # fmt: skip


def _one(rig: Rig, i: int, rng: random.Random) -> str | None:
    """One request; its decision id (None when the client left before reading any header)."""
    fault = rng.choice(FAULTS)
    second = rng.choice(["ok", "ok", "status@500", "reset@2"])
    text = f"Say hello {i}. [[fault:oa-1={fault}]] [[fault:oa-2={second}]] [[fault:an-1={fault}]]"
    kind = rng.choice(["chat", "stream", "stream", "messages", "mstream", "responses", "leave"])
    model = rng.choice(["auto", "oa-1"])
    msgs = [{"role": "user", "content": text}]
    try:
        if kind == "chat":
            r = rig.gpt.chat.completions.with_raw_response.create(model=model, messages=msgs, n=2)
            r.parse()
            return str(r.headers["x-arbiter-decision-id"])
        if kind == "stream":
            r = rig.gpt.chat.completions.with_raw_response.create(
                model=model, messages=msgs, stream=True, stream_options={"include_usage": True}
            )
            for _ in r.parse():
                pass
            return str(r.headers["x-arbiter-decision-id"])
        if kind in ("messages", "mstream"):
            r = rig.claude.messages.with_raw_response.create(
                model="an-1",
                max_tokens=64,
                messages=msgs,
                stream=kind == "mstream",  # type: ignore[arg-type]
            )
            out = r.parse()
            if kind == "mstream":
                for _ in out:  # type: ignore[union-attr]
                    pass
            return str(r.headers["x-arbiter-decision-id"])
        if kind == "responses":
            r = rig.gpt.responses.with_raw_response.create(model=model, input=text)
            r.parse()
            return str(r.headers["x-arbiter-decision-id"])
        return _leave_mid_stream(rig, model, msgs)
    except (openai.APIStatusError, anthropic.APIStatusError) as err:
        if err.status_code == 200:  # the anthropic SDK's error event mid-stream
            return "mid-stream"
        assert err.status_code != 500 and err.status_code >= 400, err
        return str(err.response.headers["x-arbiter-decision-id"])
    except (openai.APIError, anthropic.APIError):  # an error event mid-stream: after the head
        return "mid-stream"


def _leave_mid_stream(rig: Rig, model: str, msgs: Any) -> str | None:
    raw = orjson.dumps({"model": model, "messages": msgs, "stream": True})
    with socket.create_connection(("127.0.0.1", rig.sidecar.port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"authorization: Bearer {rig.key}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        head = sock.recv(256)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return None if not head else "left"


def test_a_burst_of_faulted_requests_adds_up(rig: Rig) -> None:
    rig.up.reset()
    before = rig.snapshot()
    rngs = [random.Random(1900 + i) for i in range(REQUESTS)]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: _one(rig, i, rngs[i]), range(REQUESTS)))
    assert time.monotonic() - started < 4 * DEADLINE_S * REQUESTS / 8, "the burst hung"
    deadline = time.monotonic() + 15
    while True:  # every request's decision recorded, every reservation settled
        feed = rig.get("/arbiter/decisions?limit=200").json()["data"]
        fresh = [d for d in feed if d["ts"] >= time.time() - (time.monotonic() - before.at) - 1]
        spent, reserved = rig.budget()
        by_status, cost = rig.metrics()
        count = sum(by_status.values()) - sum(before.by_status.values())
        if len(fresh) == REQUESTS and reserved < 1e-9 and count == REQUESTS:
            break
        assert time.monotonic() < deadline, (len(fresh), reserved, count, ids)
        time.sleep(0.1)
    known = [i for i in ids if i and i.startswith("dec_")]
    ids_in_feed = [d["id"] for d in fresh]
    assert len(set(ids_in_feed)) == REQUESTS, "a request recorded twice"
    assert set(known) <= set(ids_in_feed), set(known) - set(ids_in_feed)
    decided = sum(float(d["cost_usd"] or 0) for d in fresh)
    assert spent - before.spent == pytest.approx(decided, abs=1e-6), (spent - before.spent, decided)
    assert cost - before.cost == pytest.approx(decided, abs=1e-6), (cost - before.cost, decided)
    moved = {k: v - before.by_status.get(k, 0) for k, v in by_status.items()}
    feed_status = {s: sum(d["status"] == s for d in fresh) for s in ("ok", "failed")}
    assert {k: v for k, v in moved.items() if v} == {k: v for k, v in feed_status.items() if v}
