"""probe20 on a real `arbiter serve` (child process) with the cache on, in front of the scripted
upstream that records every call and what it billed (tests/fault_upstream.py), the official
`openai` SDK as the client. Each cell: what was sent, what came back, the upstream's calls and
bills, the decisions, the tenant's spend and /metrics.

- A stampede: 20 identical requests at once are one upstream call, billed once; the 19 others
  are hits recorded at cost 0 against the leader's decision, and spend, the feed and /metrics
  agree.
- Poisoning: an answer the upstream broke (a stream reset or malformed mid-way, a body cut or
  not JSON, a stream the client left) is never stored: the same request after it is a miss that
  calls upstream and comes back whole, and only then is it a hit.
- A cascade's escalated answer and a failover's answer are kept and served later naming the
  model that wrote them; the weak first answer served because the escalation failed is not.
All cells held when probed."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import Sidecar
from tests.fault_upstream import WORDS, fault_upstream
from tests.probe19a_harness import DEADLINE_S, Rig, config

pytestmark = pytest.mark.timeout(120)
WHOLE = "".join(WORDS)


@pytest.fixture(scope="module", name="rig")
def rig_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("probe20")
    with fault_upstream() as up:
        cfg = tmp / "arbiter.toml"
        cfg.write_text(config(up.port, tmp / "a.db") + "\n[cache]\nenabled = true\n")
        sidecar = Sidecar(cfg).start()
        try:
            key = str(sidecar.create_key("default")["key"])
            gpt = openai.OpenAI(
                api_key=key, base_url=sidecar.base_url, max_retries=0, timeout=DEADLINE_S + 6
            )
            with gpt:
                yield Rig(up, sidecar, key, DEADLINE_S, gpt, None)  # type: ignore[arg-type]
        finally:
            sidecar.stop()


def _cache_metric(rig: Rig, result: str) -> float:
    text = rig.get("/metrics").text
    pattern = rf'^arbiter_cache_requests_total\{{result="{result}"\}} (\S+)$'
    m = re.search(pattern, text, re.M)
    return float(m[1]) if m else 0.0


def _settled(rig: Rig, spent_before: float, decided: float) -> float:
    """The caps' spend once every reservation settled (it must be `decided` more)."""
    deadline = time.monotonic() + 10
    while True:
        spent, reserved = rig.budget()
        if reserved < 1e-9 and spent - spent_before == pytest.approx(decided, abs=1e-9):
            return spent
        assert time.monotonic() < deadline, (spent - spent_before, decided, reserved)
        time.sleep(0.05)


def test_twenty_identical_requests_at_once_are_one_call_billed_once(rig: Rig) -> None:
    rig.up.reset()
    before = rig.snapshot()
    hits_before = _cache_metric(rig, "hit")
    msgs = [{"role": "user", "content": "Explain a cache stampede in a line."}]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(
            lambda _: rig.gpt.chat.completions.with_raw_response.create(
                model="oa-1", messages=msgs  # type: ignore[arg-type]
            ),
            range(20),
        ))  # fmt: skip
    assert len(rig.up.calls) == 1 and len(rig.up.bills) == 1, rig.up.calls
    statuses = sorted(a.headers["x-arbiter-cache"] for a in answers)
    assert statuses == ["hit"] * 19 + ["miss"]
    assert {a.parse().choices[0].message.content for a in answers} == {WHOLE}
    leader = next(a for a in answers if a.headers["x-arbiter-cache"] == "miss")
    source = leader.headers["x-arbiter-decision-id"]
    first = rig.decision(source)
    assert first["mode"] != "cache" and first["cost_usd"] == pytest.approx(rig.billed_usd())
    for a in answers:
        if a is leader:
            continue
        assert a.headers["x-arbiter-cost-usd"] == "0.00000000"
        assert a.headers["x-arbiter-cache-source-decision-id"] == source
        assert a.parse().usage is not None and a.parse().usage.model_extra["cost"] == 0.0  # type: ignore[union-attr]
        hit = rig.decision(a.headers["x-arbiter-decision-id"])
        assert hit["mode"] == "cache" and hit["cost_usd"] == 0 and hit["status"] == "ok"
    _settled(rig, before.spent, rig.billed_usd())  # the one call, billed once
    assert _cache_metric(rig, "hit") - hits_before == 19
    by_status, cost = rig.metrics()
    assert by_status.get("ok", 0) - before.by_status.get("ok", 0) == 20
    assert cost - before.cost == pytest.approx(rig.billed_usd(), abs=1e-9)


def _leave_mid_stream(rig: Rig, body: dict[str, Any]) -> None:
    """A client that reads the stream's head and first bytes, then resets its connection."""
    raw = orjson.dumps(body)
    with socket.create_connection(("127.0.0.1", rig.sidecar.port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"authorization: Bearer {rig.key}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        assert sock.recv(256)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


@pytest.mark.parametrize(
    ("fault", "stream"),
    [("reset@3", True), ("malformed@2", True), ("midstall@3", "leave"), ("truncated", False),
     ("cutjson", False), ("html", False)],
)  # fmt: skip
def test_an_answer_the_upstream_broke_is_never_served_later(
    rig: Rig, fault: str, stream: bool | str
) -> None:
    rig.up.reset(oa_1=fault, oa_2="status@500")  # no failover answer to keep either
    msgs = [{"role": "user", "content": f"Describe the sea ({fault}, {stream})."}]
    body = {"model": "oa-1", "messages": msgs}
    if stream == "leave":
        _leave_mid_stream(rig, {**body, "stream": True})
        time.sleep(0.3)  # the sidecar notices the reset at its next write
    else:
        with pytest.raises(openai.APIError):
            if stream:
                for _ in rig.gpt.chat.completions.create(**body, stream=True):  # type: ignore[call-overload]
                    pass
            else:
                rig.gpt.chat.completions.create(**body)  # type: ignore[call-overload]
    rig.up.reset()  # healthy again
    before = rig.snapshot()
    again = rig.gpt.chat.completions.with_raw_response.create(**body)  # type: ignore[call-overload]
    assert again.headers["x-arbiter-cache"] == "miss", fault  # nothing of the broken answer kept
    assert again.parse().choices[0].message.content == WHOLE
    assert [m for _, m, _ in rig.up.calls] == ["oa-1"]
    _settled(rig, before.spent, rig.billed_usd())
    third = rig.gpt.chat.completions.with_raw_response.create(**body)  # type: ignore[call-overload]
    assert third.headers["x-arbiter-cache"] == "hit"
    assert third.parse().choices[0].message.content == WHOLE
    assert len(rig.up.calls) == 1
    feed = httpx.get(
        rig.sidecar.root_url + "/arbiter/decisions?limit=1", headers=rig.admin, timeout=10
    ).json()["data"]
    assert feed[0]["mode"] == "cache" and feed[0]["cost_usd"] == 0


EXTRACTION = "Extract every name from this text as a list: Ada met Grace and Alan at noon."


@pytest.mark.parametrize(
    ("script", "kept"),
    [({}, "oa-2"), ({"oa_2": "status@500"}, None), ({"oa_1": "status@500"}, "oa-2")],
    ids=["escalated", "weak-first-answer-served", "failover"],
)
def test_a_cascade_or_failover_answer_is_kept_only_when_whole(
    rig: Rig, script: dict[str, str], kept: str | None
) -> None:
    """extraction cascades (oa-1 first; its 7-token answer is under cascade_min_answer_tokens,
    so oa-2 answers). Kept: the escalated answer, or the failover's (oa-1 down), each served
    later as a hit naming the model that wrote it; never the weak first answer that was served
    only because the escalation failed."""
    text = f"{EXTRACTION} ({'-'.join(f'{k}={v}' for k, v in script.items()) or 'ok'})"
    body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
    rig.up.reset(**script)
    first = rig.gpt.chat.completions.with_raw_response.create(**body)  # type: ignore[call-overload]
    assert first.headers["x-arbiter-cache"] == "miss"
    decision = rig.decision(first.headers["x-arbiter-decision-id"])
    assert decision["task"] == "extraction", decision
    rig.up.reset(**script)
    before = rig.snapshot()
    again = rig.gpt.chat.completions.with_raw_response.create(**body)  # type: ignore[call-overload]
    if kept is None:
        assert again.headers["x-arbiter-cache"] == "miss"
        assert rig.up.calls, "the weak answer was served from the cache"
        return
    assert again.headers["x-arbiter-cache"] == "hit"
    assert again.headers["x-arbiter-model"] == kept == first.headers["x-arbiter-model"]
    assert again.parse().model == kept
    assert again.headers["x-arbiter-cache-source-decision-id"] == decision["id"]
    assert rig.up.calls == [] and again.headers["x-arbiter-cost-usd"] == "0.00000000"
    _settled(rig, before.spent, 0.0)
