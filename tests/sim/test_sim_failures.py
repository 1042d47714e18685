"""Failure modes fire at their configured rates (seeded), and look like real upstream failures."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest

from arbiter.offline.sim import SimServer

from .helpers import ALL_GOOD, AUTH, fast_config, fast_model, sse_data


def _ask(
    client: httpx.Client, model: str, i: int, timeout: float = 10.0, **extra: object
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": f"Tell me fact number {i}."}]}
    body.update(extra)
    return client.post("/v1/chat/completions", json=body, timeout=timeout)


def _classify(r: httpx.Response) -> str:
    if r.status_code == 429:
        return "error_429"
    if r.status_code >= 500:
        return "error_5xx"
    try:
        data = r.json()
    except json.JSONDecodeError:
        return "malformed"
    return "ok" if data.get("choices") else "malformed"


def test_request_failures_fire_at_their_rates() -> None:
    failures = {"error_5xx": 0.2, "error_429": 0.1, "malformed": 0.1}
    config = fast_config({"flaky": fast_model(failures=failures)})
    n = 600
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        seen = Counter(_classify(_ask(client, "flaky", i)) for i in range(n))
        stats = client.get("/_sim/stats").json()["models"]["flaky"]
    for kind, rate in failures.items():
        assert abs(seen[kind] / n - rate) < 0.05, (kind, seen)
        assert stats["failures"][kind] == seen[kind]
    assert stats["requests"] == n
    assert stats["ok"] == seen["ok"]


def test_draws_are_reproducible_after_reset() -> None:
    config = fast_config({"flaky": fast_model(failures={"error_5xx": 0.3})})
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        first = [(r.status_code, r.text) for r in (_ask(client, "flaky", i % 7) for i in range(40))]
        client.post("/_sim/reset")
        again = [(r.status_code, r.text) for r in (_ask(client, "flaky", i % 7) for i in range(40))]
    strip = [(s, t.split('"created"')[0]) for s, t in first]
    assert strip == [(s, t.split('"created"')[0]) for s, t in again]
    assert {s for s, _ in first} >= {200}
    assert any(s >= 500 for s, _ in first)


def test_error_bodies_and_retry_after() -> None:
    config = fast_config({"limited": fast_model(failures={"error_429": 1.0}),
                          "broken": fast_model(failures={"error_5xx": 1.0})})  # fmt: skip
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        r = _ask(client, "limited", 0)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        r = _ask(client, "broken", 0)
        assert r.status_code in (500, 502, 503)
        assert r.json()["error"]["type"] == "server_error"


def test_timeout_hangs_for_hang_s_then_answers_504() -> None:
    config = fast_config({"slow": fast_model(failures={"timeout": 1.0})}, hang_s=0.4)
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        with pytest.raises(httpx.ReadTimeout):
            _ask(client, "slow", 0, timeout=0.1)
        start = time.monotonic()
        r = _ask(client, "slow", 1)
        assert r.status_code == 504
        assert time.monotonic() - start >= 0.35


def _stream_lines(client: httpx.Client, model: str) -> tuple[list[str], Exception | None]:
    prompt = "Explain photosynthesis to a beginner in a few sentences."
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    lines: list[str] = []
    try:
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                lines.append(line)
    except httpx.HTTPError as err:
        return lines, err
    return lines, None


def test_stream_cut_drops_the_connection_after_n_chunks() -> None:
    config = fast_config({"cut": fast_model(failures={"stream_cut": 1.0, "stream_cut_after": 3})})
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        lines, err = _stream_lines(client, "cut")
        stats = client.get("/_sim/stats").json()["models"]["cut"]
    assert isinstance(err, httpx.RemoteProtocolError)
    payloads = sse_data(lines)
    assert "[DONE]" not in payloads
    chunks = [json.loads(p) for p in payloads]
    assert len(chunks) == 4  # the role chunk and three content chunks
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    assert stats["failures"] == {"stream_cut": 1}
    assert stats["ok"] == 0


def test_malformed_chunk_mid_stream() -> None:
    config = fast_config({"garbled": fast_model(failures={"malformed_chunk": 1.0})})
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        lines, err = _stream_lines(client, "garbled")
    assert err is None
    payloads = sse_data(lines)
    assert payloads[-1] == "[DONE]"
    bad = []
    for i, p in enumerate(payloads[:-1]):
        try:
            json.loads(p)
        except json.JSONDecodeError:
            bad.append(i)
    assert len(bad) == 1 and 1 < bad[0] < len(payloads) - 2


def test_malformed_stream_starts_with_garbage() -> None:
    config = fast_config({"m": fast_model(failures={"malformed": 1.0})})
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        lines, _ = _stream_lines(client, "m")
    with pytest.raises(json.JSONDecodeError):
        json.loads(sse_data(lines)[1])


def test_stall_delays_the_first_byte_and_trickle_paces_chunks() -> None:
    config = fast_config({
        "stall": fast_model(failures={"stall": 1.0, "stall_ms": 300}),
        "trickle": fast_model(chars_per_chunk=40, quality=ALL_GOOD,
                              failures={"trickle": 1.0, "trickle_ms": 30}),
    })  # fmt: skip
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        start = time.monotonic()
        r = _ask(client, "stall", 1, stream=True)
        assert r.status_code == 200
        assert time.monotonic() - start >= 0.28
        start = time.monotonic()
        lines, err = _stream_lines(client, "trickle")
        elapsed = time.monotonic() - start
    assert err is None
    n_content = len(sse_data(lines)) - 3  # role chunk, finish chunk, [DONE]
    assert n_content >= 4
    assert elapsed >= 0.03 * (n_content - 1) * 0.9


def test_control_marks_down_changes_rates_and_quality_then_reset() -> None:
    config = fast_config({"m": fast_model(quality={"math": 1.0})})
    math = [{"role": "user", "content": "A box holds 12 apples. How many apples are in 3 boxes?"}]
    with SimServer(config) as sim, httpx.Client(base_url=sim.root_url, headers=AUTH) as client:
        assert _ask(client, "m", 0).status_code == 200
        r = client.post("/_sim/control", json={"model": "m", "down": True})
        assert r.status_code == 200 and r.json()["models"][0]["down"] is True
        assert _ask(client, "m", 0).status_code == 503
        client.post("/_sim/control", json={"model": "m", "down": False, "error_rate_5xx": 1.0})
        assert _ask(client, "m", 0).status_code >= 500
        client.post("/_sim/control", json={"model": "*", "error_5xx": 0.0, "quality": 0.0})
        reply = client.post("/v1/chat/completions", json={"model": "m", "messages": math}).json()
        assert "Answer: 36" not in reply["choices"][0]["message"]["content"]
        assert client.post("/_sim/control", json={"model": "m", "nope": 1}).status_code == 400
        assert client.post("/_sim/control", json={"model": "x", "down": True}).status_code == 400
        assert client.post("/_sim/control", json={"model": "m", "quality": 2}).status_code == 400
        client.post("/_sim/reset")
        assert client.get("/_sim/stats").json()["total_requests"] == 0
        reply = client.post("/v1/chat/completions", json={"model": "m", "messages": math}).json()
        assert reply["choices"][0]["message"]["content"].endswith("Answer: 36")
