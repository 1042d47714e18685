"""End to end failover: retries, fallback, caller's-fault errors, the deadline and the circuit
breaker (stats, alert, one half-open probe), against a live sidecar and a live sim."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.sidecar_thread import TestClock
from tests.e2e.test_streaming import (
    AUTH,
    QUESTION,
    Stack,
    WatchedSim,
    attempts_of,
    decision,
    first_decision_since,
    running,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running(tmp_path_factory.mktemp("failover")) as s:
        yield s


@pytest.fixture
def sim(stack: Stack) -> Iterator[WatchedSim]:
    stack.sim.reset()
    yield stack.sim
    stack.sim.reset()


def post(stack: Stack, model: str = "auto", **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{stack.sidecar.base_url}/chat/completions",
        json={"model": model, "messages": QUESTION, **extra},
        timeout=30,
    )


def sim_requests(sim: WatchedSim, model: str) -> int:
    stats = httpx.get(f"{sim.root_url}/_sim/stats", timeout=5).json()
    return int(stats["models"][model]["requests"])


def assert_openai_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == code


# -- non-streaming retries and fallback -------------------------------------------------------
@pytest.mark.parametrize(
    ("patch", "code", "status"),
    [
        ({"error_5xx": 1.0}, "upstream_unavailable", None),
        ({"error_429": 1.0}, "upstream_rate_limited", 429),
        ({"malformed": 1.0}, "upstream_error", None),
        ({"timeout": 1.0}, "upstream_timeout", 504),  # the sim hangs 3 s, then answers 504
    ],
)
def test_non_streaming_failure_retries_then_falls_back(
    stack: Stack, sim: WatchedSim, patch: dict[str, Any], code: str, status: int | None
) -> None:
    sim.control(model="s-a", **patch)
    r = post(stack)
    assert r.status_code == 200, r.text
    served = r.headers["x-arbiter-model"]
    assert served in ("s-b", "s-c")
    assert r.json()["choices"][0]["message"]["content"]
    row = decision(stack.sidecar.root_url, r.headers["x-arbiter-decision-id"])
    assert row["status"] == "ok"
    if code == "upstream_rate_limited":
        # no retry on s-a, which asked for a pause (test_a_paused_model_is_skipped_until_...)
        assert attempts_of(row) == [("s-a", False, code), (served, True, None)]
        assert row["attempts"][0]["status"] == 429
        time.sleep(1.1)  # let the pause end before the next test
        return
    assert attempts_of(row) == [("s-a", False, code), ("s-a", False, code), (served, True, None)]
    if status is not None:
        assert [a.get("status") for a in row["attempts"][:2]] == [status, status]
    assert all(a["latency_ms"] >= 0 for a in row["attempts"])


def test_a_retry_on_the_same_model_can_succeed(stack: Stack, sim: WatchedSim) -> None:
    """With a 50% 5xx rate some request fails once and then succeeds on the same model."""
    sim.control(model="s-b", error_5xx=0.5)
    rows = []
    for _ in range(12):
        r = post(stack, "s-b")
        assert r.status_code in (200, 503), r.text
        rows.append(decision(stack.sidecar.root_url, r.headers["x-arbiter-decision-id"])
                    if r.status_code == 200 else None)  # fmt: skip
    retried = [row for row in rows if row and len(row["attempts"]) == 2]
    assert retried, "no request needed a retry in 12 tries at a 50% failure rate"
    assert attempts_of(retried[0]) == [("s-b", False, "upstream_unavailable"), ("s-b", True, None)]


def test_malformed_body_on_pass_through_is_a_clean_error_not_a_500(
    stack: Stack, sim: WatchedSim
) -> None:
    sim.control(model="s-b", malformed=1.0)
    r = post(stack, "s-b")
    assert_openai_error(r, 502, "upstream_error")
    assert sim_requests(sim, "s-b") == 2  # retried once, then given up cleanly


def test_callers_fault_is_returned_and_never_retried(stack: Stack, sim: WatchedSim) -> None:
    r = post(stack, "s-ghost")  # the sim answers 404 model_not_found
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "upstream_rejected"
    # the upstream's status and machine code, in our words; its prose (naming the operator's
    # upstream model) stays in the operator log
    message = r.json()["error"]["message"]
    assert message == "upstream s-ghost returned HTTP 404 (not found): model_not_found"
    assert r.json()["error"]["param"] == "model"
    feed = httpx.get(f"{stack.sidecar.root_url}/arbiter/decisions", params={"limit": 1}).json()
    row = feed["data"][0]
    assert row["chosen_model"] == "s-ghost"
    assert row["status"] == "failed"
    assert [(a["model"], a["status"]) for a in row["attempts"]] == [("s-ghost", 404)]


def test_every_model_failing_is_a_clean_error(stack: Stack, sim: WatchedSim) -> None:
    sim.control(model="*", error_5xx=1.0)
    r = post(stack)
    assert_openai_error(r, 503, "upstream_unavailable")
    r = post(stack, stream=True)
    assert_openai_error(r, 503, "upstream_unavailable")  # before the first byte: a plain error
    feed = httpx.get(f"{stack.sidecar.root_url}/arbiter/decisions", params={"limit": 1}).json()
    row = feed["data"][0]
    assert row["status"] == "failed"
    assert row["stream"] in (True, 1)
    tried = [a["model"] for a in row["attempts"]]
    assert tried[:2] == ["s-a", "s-a"]
    assert sorted(tried[2:]) == ["s-b", "s-b", "s-c", "s-c"]  # their order follows the scores


# -- the client leaving -------------------------------------------------------------------------
def test_a_client_leaving_a_non_streaming_request_stops_its_upstream_call(
    stack: Stack, sim: WatchedSim
) -> None:
    """uvicorn never cancels a handler whose client left; the sidecar notices and cancels the
    upstream call itself (it would go on costing), and records the decision as a disconnect."""
    sim.control(model="*", stall=1.0, stall_ms=10000)
    sent_at = time.time()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{stack.sidecar.base_url}/chat/completions",
            json={"model": "auto", "messages": QUESTION},
            headers=AUTH,
            timeout=0.5,
        )
    # before the upstream would have answered (10 s), with room for a loaded machine
    row = first_decision_since(stack.sidecar.root_url, sent_at, within_s=8)
    assert row is not None, "not recorded before the upstream would have answered"
    assert row["status"] == "failed"
    assert row["error"] == "client_disconnected"
    sim.reset()
    r = post(stack)  # and the sidecar carries on serving
    assert r.status_code == 200, r.text


# -- the deadline -------------------------------------------------------------------------------
def test_the_total_deadline_bounds_a_request(tmp_path: Path) -> None:
    # every model hangs for 20 s, then answers 504: the deadline (1.5 s) must cut the first try
    # before that, and leave no time for another. An ordering against the sim's own 20 s timer,
    # not a wall-clock bound (it was `took < 15 s`): the cut try has no status (the sim never
    # answered it), and without the deadline the tries add up past the client's 30 s timeout
    fo = {"deadline_s": 1.5, "first_byte_timeout_s": 60.0}
    with running(tmp_path, failover=fo, hang_s=20.0) as s:
        s.sim.control(model="*", timeout=1.0)
        r = post(s)
        assert_openai_error(r, 504, "upstream_timeout")
        feed = httpx.get(f"{s.sidecar.root_url}/arbiter/decisions", params={"limit": 1}).json()
        tries = [(a["model"], a["error"], a["status"]) for a in feed["data"][0]["attempts"]]
        assert tries == [("s-a", "upstream_timeout", None)]


def test_total_timeout_bounds_a_non_streaming_answer(tmp_path: Path) -> None:
    """A non-streaming answer's first byte is its last: the total timeout is what cuts a stall
    (the first-byte timeout, 1 s here, would cut long healthy answers short). The margins are
    seconds, not tenths, so a loaded host does not cross them."""
    with running(tmp_path, failover={"total_timeout_s": 4.0, "retries_per_model": 0}) as s:
        s.sim.control(model="s-a", stall=1.0, stall_ms=1500)  # slower than first byte, < total
        r = post(s)
        assert r.status_code == 200
        assert r.headers["x-arbiter-model"] == "s-a"
        s.sim.control(model="s-a", stall_ms=12_000)  # far beyond the total timeout
        r = post(s)
        assert r.status_code == 200
        # cut at 4 s, not answered at 12 s: an ordering against the sim's own stall (s-a cut,
        # another model answered), not a wall-clock bound (it was `< 10.5 s`)
        assert r.headers["x-arbiter-model"] in ("s-b", "s-c")
        row = decision(s.sidecar.root_url, r.headers["x-arbiter-decision-id"])
        assert attempts_of(row)[0] == ("s-a", False, "upstream_timeout")


def test_a_paused_model_is_skipped_until_its_retry_after_ends(tmp_path: Path) -> None:
    """The sim's 429 says `retry-after: 1`: until that second has passed (on the breaker's
    clock, which only the test moves), requests skip s-a without calling it; then it serves."""
    clock = TestClock()
    with running(tmp_path, breaker_clock=clock) as s:
        s.sim.control(model="s-a", error_429=1.0)
        r = post(s)
        assert r.status_code == 200, r.text
        row = decision(s.sidecar.root_url, r.headers["x-arbiter-decision-id"])
        assert attempts_of(row) == [
            ("s-a", False, "upstream_rate_limited"),
            (r.headers["x-arbiter-model"], True, None),
        ]
        s.sim.control(model="s-a", error_429=0.0)
        before = sim_requests(s.sim, "s-a")
        clock.advance(0.9)
        paused = post(s)  # however long after the 429 it is sent on the wall clock
        assert paused.status_code == 200, paused.text
        row = decision(s.sidecar.root_url, paused.headers["x-arbiter-decision-id"])
        assert attempts_of(row)[0] == ("s-a", False, "upstream_paused")
        assert paused.headers["x-arbiter-model"] != "s-a"
        assert sim_requests(s.sim, "s-a") == before  # skipped, not called
        clock.advance(0.2)
        r = post(s)
        assert r.headers["x-arbiter-model"] == "s-a"  # the pause is over
        assert sim_requests(s.sim, "s-a") == before + 1


# -- the circuit breaker ------------------------------------------------------------------------
def circuits(s: Stack) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{s.sidecar.root_url}/arbiter/stats", timeout=10).json()
    return data["circuits"]  # type: ignore[no-any-return]


COOLDOWN_S = 30.0  # the cool-downs below pass on the test's clock, never on their own


def test_circuit_opens_skips_probes_once_and_closes(tmp_path: Path) -> None:
    clock = TestClock()
    # the probe below is held at the sim for as long as the test needs: no first-byte cut-off
    fo = {"first_byte_timeout_s": 60.0, "total_timeout_s": 60.0, "deadline_s": 60.0}
    with running(tmp_path, breaker={"failure_threshold": 2, "cooldown_s": COOLDOWN_S},
                 failover=fo, breaker_clock=clock) as s:  # fmt: skip
        s.sim.control(model="s-a", down=True)
        r = post(s)  # s-a fails twice: its circuit opens, s-b/s-c answer
        assert r.status_code == 200
        row = decision(s.sidecar.root_url, r.headers["x-arbiter-decision-id"])
        assert [a[0] for a in attempts_of(row)][:2] == ["s-a", "s-a"]
        state = circuits(s)["s-a"]
        assert state["state"] == "open"
        assert state["consecutive_failures"] == 2
        alerts = httpx.get(f"{s.sidecar.root_url}/arbiter/alerts", timeout=10).json()["data"]
        assert [a["kind"] for a in alerts if a.get("model") == "s-a"] == ["circuit_open"]

        # open: the router leaves s-a out; no request reaches it, however long they take
        before = sim_requests(s.sim, "s-a")
        for _ in range(3):
            r = post(s)
            assert r.status_code == 200
            assert r.headers["x-arbiter-model"] != "s-a"
        assert sim_requests(s.sim, "s-a") == before
        row = decision(s.sidecar.root_url, r.headers["x-arbiter-decision-id"])
        assert any(
            c["model"] == "s-a" and c["why_not"] == "circuit open" for c in row["candidates"]
        )
        clock.advance(COOLDOWN_S - 0.5)
        assert circuits(s)["s-a"]["state"] == "open"  # not a moment before its cool-down ends

        # half-open: s-a is back, and its answer waits at the sim until the other requests are
        # answered; of 6 concurrent requests exactly one probes it, the others go elsewhere
        s.sim.control(model="s-a", down=False)
        clock.advance(0.5)
        assert circuits(s)["s-a"]["state"] == "half_open"
        valve = s.sim.hold("s-a", "start")
        before = sim_requests(s.sim, "s-a")
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            pending = {pool.submit(post, s) for _ in range(6)}
            others: list[httpx.Response] = []
            deadline = time.monotonic() + 60  # generous: five answers, on a loaded host
            while len(others) < 5 and pending and time.monotonic() < deadline:
                done, pending = concurrent.futures.wait(
                    pending, timeout=1, return_when="FIRST_COMPLETED"
                )
                others += [f.result() for f in done]
            assert len(others) == 5, "five requests must be answered while the probe waits"
            assert sim_requests(s.sim, "s-a") - before == 1
            valve.let_through(1)
            probe = pending.pop().result(timeout=60)
        assert all(r.status_code == 200 for r in [*others, probe])
        assert all(r.headers["x-arbiter-model"] != "s-a" for r in others)
        assert probe.headers["x-arbiter-model"] == "s-a"
        assert sim_requests(s.sim, "s-a") - before == 1
        assert "s-a" not in circuits(s)  # the probe succeeded: closed, failures forgotten
        valve.open()
        r = post(s)
        assert r.headers["x-arbiter-model"] == "s-a"


def test_failed_probe_reopens_the_circuit(tmp_path: Path) -> None:
    clock = TestClock()
    with running(tmp_path, breaker={"failure_threshold": 1, "cooldown_s": COOLDOWN_S},
                 failover={"retries_per_model": 0}, breaker_clock=clock) as s:  # fmt: skip
        s.sim.control(model="s-a", down=True)
        assert post(s).status_code == 200
        assert circuits(s)["s-a"]["state"] == "open"
        clock.advance(COOLDOWN_S)
        assert circuits(s)["s-a"]["state"] == "half_open"
        r = post(s)  # the probe: s-a is still down
        assert r.status_code == 200
        row = decision(s.sidecar.root_url, r.headers["x-arbiter-decision-id"])
        assert attempts_of(row)[0] == ("s-a", False, "upstream_unavailable")
        state = circuits(s)["s-a"]
        assert state["state"] == "open"
        assert state["probe_in_s"] == COOLDOWN_S  # a full cool-down again, from the failed probe
        clock.advance(COOLDOWN_S - 0.5)
        assert circuits(s)["s-a"]["state"] == "open"
        alerts = httpx.get(f"{s.sidecar.root_url}/arbiter/alerts", timeout=10).json()["data"]
        assert [a["kind"] for a in alerts if a.get("model") == "s-a"] == ["circuit_open"]


def test_sim_auth_header_is_sent(stack: Stack, sim: WatchedSim) -> None:
    """The sim requires a bearer key: every call above went through with the configured one."""
    r = httpx.post(f"{sim.base_url}/chat/completions", json={"model": "s-a", "messages": QUESTION})
    assert r.status_code == 401
    r = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": "s-a", "messages": QUESTION},
        headers=AUTH,
    )
    assert r.status_code == 200
