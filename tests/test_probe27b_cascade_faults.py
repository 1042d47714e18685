"""probe27b: cascades and failover from outside, each request kind against each fault, on a
real `arbiter serve` in front of probe22a's scripted upstream (both protocols on one port), the
official SDKs as clients. The pool: an-1 (Anthropic protocol, the cascade's first model,
cheapest), oa-1 (OpenAI protocol, cheap), oa-2 and an-2 (dear; oa-2 the baseline);
`routing.cascade_all` for extraction, whose short first answer escalates to the baseline."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.probe22a_rig import Reply, Rig, default_reply, rig
from tests.probe_rig import model_toml, rig_toml

_n = itertools.count()
EXTRACT = "Extract all the names from this text: Alice met Bob in Paris."
PRICES = {"an-1": (1.0, 2.0), "oa-1": (2.0, 4.0), "oa-2": (1000.0, 2000.0),
          "an-2": (1000.0, 2000.0)}  # fmt: skip


def config(port: int, db: Path) -> str:
    priors = "".join(
        f"{t} = 0.9\n"
        for t in ("chat", "code", "math", "extraction", "summarization", "translation", "creative")
    )
    caps = '["chat", "json", "json-schema", "tools", "vision"]'
    models = "".join(
        model_toml(name, "ra" if name.startswith("an") else "ro", prices, 200000, caps,
                   f"[models.{name}.priors]\n{priors}")
        for name, prices in PRICES.items()
    )  # fmt: skip
    routing = (
        'judge_sample_rate = 0.0\ncascade_tasks = ["extraction"]\ncascade_first_model = "an-1"\n'
        "cascade_all = true\ncascade_min_answer_tokens = { extraction = 100 }\n"
    )
    failover = {"first_byte_timeout_s": 2.0, "total_timeout_s": 4.0, "deadline_s": 8.0,
                "retries_per_model": 0, "max_retry_after_s": 1.0}  # fmt: skip
    return rig_toml(port, db, models, failover, baseline="oa-2", routing=routing, breaker=100000)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("p27b")), config) as made:
        yield made


def mark(r: Rig, fn: Any = default_reply) -> tuple[str, str]:
    name = f"c{next(_n)}"
    return name, r.script(name, fn)


def called(r: Rig, name: str) -> list[str]:
    """The models the upstream was asked for, in order, by this cell's calls."""
    return [str(body["model"]) for _, body in r.upstream.bodies(name)]


def test_cascade_all_control_cascades_cheap_then_baseline(r: Rig) -> None:
    """The control for the next cell: n = 1 cascades an-1, then the baseline oa-2."""
    name, m = mark(r)
    raw = r.oa.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": EXTRACT + m}]
    )
    assert raw.headers["x-arbiter-cascade"] == "escalated"
    assert called(r, name) == ["an-1", "oa-2"]


def test_cascade_all_without_an_eligible_first_model_keeps_the_routers_choice(r: Rig) -> None:
    """n = 2 rules out the Anthropic-protocol first model, so no cascade can run: the request
    went to the baseline alone (500 times oa-1's price here) while the decision's reason named
    oa-1 as the choice; as with an SLO without room for both calls, the router's choice
    serves."""
    name, m = mark(r)
    raw = r.oa.chat.completions.with_raw_response.create(
        model="auto", n=2, messages=[{"role": "user", "content": EXTRACT + m}]
    )
    assert "x-arbiter-cascade" not in raw.headers
    assert called(r, name) == ["oa-1"]
    assert raw.headers["x-arbiter-model"] == "oa-1"
    reason = r.decision(raw.headers["x-arbiter-decision-id"])["reason"]
    assert "oa-1" in reason.split(";")[0], reason


def _cheap_fails(path: str, body: dict[str, Any]) -> Reply:
    if path.endswith("/messages"):  # an-1, the cascade's first model
        return Reply(
            {"type": "error", "error": {"type": "api_error", "message": "boom"}}, status=500
        )
    return default_reply(path, body)


def test_a_failed_cheap_try_is_in_the_reason(r: Rig) -> None:
    """The cheap call failing (a 500) escalates to the baseline: `x-arbiter-cascade` said
    `escalated`, but the decision's reason said nothing of the cascade, only the router's
    pick, so the feed read as if the baseline had been chosen outright."""
    name, m = mark(r, _cheap_fails)
    raw = r.oa.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": EXTRACT + m}]
    )
    assert raw.headers["x-arbiter-cascade"] == "escalated"
    assert called(r, name) == ["an-1", "oa-2"]
    reason = r.decision(raw.headers["x-arbiter-decision-id"])["reason"]
    # left27: each try said as failover says them (failover_said.py)
    assert "cascade: tried first an-1 500, failed (upstream_unavailable), escalated" in reason, (
        reason
    )


def _first_two_fail() -> Any:
    """The first model asked answers 503, the second 529 (overloaded), the rest answer."""
    seen: list[str] = []

    def reply(path: str, body: dict[str, Any]) -> Reply:
        if body["model"] not in seen:
            seen.append(str(body["model"]))
        at = seen.index(str(body["model"]))
        if at < 2:
            failed = {"error": {"message": "down", "type": "server_error"}}
            return Reply(failed, status=(503, 529)[at])
        return default_reply(path, body)

    return reply


@pytest.mark.parametrize("stream", [False, True])
def test_a_plain_failover_is_in_the_reason(r: Rig, stream: bool) -> None:
    """left27: a chat request (no cascade) whose first two models fail: the reason named the
    router's pick only; now it ends with what each try did, the answering model last."""
    name, m = mark(r, _first_two_fail())
    raw = r.oa.chat.completions.with_raw_response.create(
        model="auto", stream=stream, messages=[{"role": "user", "content": "Say hi." + m}]
    )
    if stream:
        list(raw.parse())
    first, second, third = called(r, name)
    reason = r.decision(raw.headers["x-arbiter-decision-id"])["reason"]
    said = f"; failover: {first} 503, {second} 529, {third} answered"
    assert reason.endswith(said), reason
    assert raw.headers["x-arbiter-model"] == third


def _escalation_rate_limited(path: str, body: dict[str, Any]) -> Reply:
    if path.endswith("/messages"):
        return default_reply(path, body)
    limited = {"error": {"message": "slow down", "type": "rate_limit_error"}}
    return Reply(limited, status=429, headers={"retry-after": "30"})


def test_zz_an_escalation_told_to_wait_30_s_is_not_asked_again_at_once(r: Rig) -> None:
    """Last in the module (it pauses oa-1 and oa-2 for 30 s). The escalation's models answer
    429 with Retry-After 30, past `max_retry_after_s` (1): each was requeued and called again
    at once in the same request (an-1, oa-2, oa-1, oa-2, oa-1); now once each, then the first
    answer, already paid, is served."""
    name, m = mark(r, _escalation_rate_limited)
    raw = r.oa.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": EXTRACT + m}]
    )
    assert raw.headers["x-arbiter-cascade"] == "first-answer-served"
    assert called(r, name) == ["an-1", "oa-2", "oa-1"]
    decision = r.decision(raw.headers["x-arbiter-decision-id"])
    tried = [(a["model"], a["error"]) for a in decision["attempts"]]
    assert tried[1:] == [("oa-2", "upstream_rate_limited"), ("oa-1", "upstream_rate_limited")]
    assert "the escalation failed (upstream_rate_limited)" in decision["reason"]
