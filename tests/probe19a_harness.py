"""The probe19a fault matrix's rig: a real `arbiter serve` (child process) in front of the
scripted upstream (tests/fault_upstream.py), the official SDKs as its clients, and the checks
every cell makes after its one request:

- the decision was recorded once (the feed lists its id once) with the status the cell expects;
- the caps' spend moved by the decision's cost, and by what the upstream billed where the
  answer was whole (a failed call the upstream billed nothing for costs nothing);
- nothing stays reserved;
- `/metrics` moved by one request with that status and by the same cost, and its failed
  upstream calls by the decision's failed attempts, each as billed "maybe" or "no" as its
  attempt says (`attempts[].billed`);
- a failed attempt charged as not billed (`billed: false`: a refusal, a whole error answer)
  costs nothing: where every failed attempt is such, the spend is exactly what the upstream
  billed, whole answers or not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import ADMIN_KEY, Sidecar
from tests.fault_upstream import FaultUpstream, fault_upstream
from tests.probe_rig import keyed_sidecar, model_toml, recorded_decision, rig_toml, sdk_clients

# USD per 1M tokens (in, out): large so each call's cost is far above the store's 1e-9 rounding
PRICES = {"oa-1": (1000.0, 2000.0), "oa-2": (3000.0, 6000.0), "an-1": (1000.0, 2000.0),
          "em-1": (100.0, 0.0)}  # fmt: skip
MAX_RESPONSE_BYTES = 65536


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The rig's [failover] timeouts: no cell may hang past `deadline_s` (plus the client's
    slack)."""

    first_byte_s: float
    total_s: float
    deadline_s: float


# the cells that answer: wide margins, so that a loaded CI core never times a healthy call out
TIMEOUTS = Timeouts(first_byte_s=1.5, total_s=3.0, deadline_s=6.0)
# the cells whose upstream stalls, each of which waits a timeout out: a third of the wait and
# a deadline that, after the stalled model's two tries (retries_per_model = 1), still leaves
# `auto` a second for its fallback (with TIMEOUTS' 3 + 3 = 6 s it had none: auto's cells passed
# only while an earlier cell's Retry-After kept oa-1 paused). A stream's checks hold whichever
# call its first-byte timeout cuts: a stall only has to be cut in time.
STALL_TIMEOUTS = Timeouts(first_byte_s=0.5, total_s=0.75, deadline_s=2.5)
DEADLINE_S = TIMEOUTS.deadline_s


def config(port: int, db: Path, timeouts: Timeouts = TIMEOUTS) -> str:
    models = ""
    priors = "chat = 0.9\ncode = 0.9\nmath = 0.9\nextraction = 0.9\nsummarization = 0.9\n"
    for name, prices in PRICES.items():
        up = "fa" if name.startswith("an") else "fo"
        caps = '["chat", "json", "json-schema", "tools", "vision"]'
        if name in ("an-1", "em-1"):
            caps = '["chat", "tools", "vision", "no-route"]'
        more = f"[models.{name}.priors]\n{priors}translation = 0.9\ncreative = 0.9\n"
        models += model_toml(name, up, prices, 32000, caps, more)
    routing = ('cascade_tasks = ["extraction"]\ncascade_first_model = "oa-1"\ncascade_all = true\n'
               "cascade_min_answer_tokens = { extraction = 100 }\n")  # fmt: skip
    failover = {"connect_timeout_s": 1.0, "first_byte_timeout_s": timeouts.first_byte_s,
                "total_timeout_s": timeouts.total_s, "deadline_s": timeouts.deadline_s,
                "retries_per_model": 1, "backoff_ms": 10, "max_retry_after_s": 1.0}  # fmt: skip
    upstream_more = f"max_response_bytes = {MAX_RESPONSE_BYTES}\nmax_event_bytes = 16384\n"
    return rig_toml(port, db, models, failover, baseline="oa-2", routing=routing, breaker=1000,
                    upstreams=("fo", "fa"), upstream_more=upstream_more)  # fmt: skip


@dataclass(slots=True)
class Rig:
    up: FaultUpstream
    sidecar: Sidecar
    key: str
    deadline_s: float  # its failover.deadline_s

    @property
    def admin(self) -> dict[str, str]:
        return {"authorization": f"Bearer {ADMIN_KEY}", "host": "127.0.0.1"}

    gpt: openai.OpenAI  # the clients, one per module: each keeps its connections
    claude: anthropic.Anthropic

    def get(self, path: str) -> httpx.Response:
        r = httpx.get(self.sidecar.root_url + path, headers=self.admin, timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r

    def budget(self) -> tuple[float, float]:
        rows = self.get("/arbiter/budgets").json()["data"]
        return sum(r["spent_usd"] for r in rows), sum(r["reserved_usd"] for r in rows)

    def metrics(self) -> tuple[dict[str, float], float]:
        """Requests by status, and the cost, from /metrics."""
        by_status, cost, _ = self.all_metrics()
        return by_status, cost

    def all_metrics(self) -> tuple[dict[str, float], float, dict[str, float]]:
        """Requests by status, the cost, and failed upstream calls by `billed`, from /metrics."""
        text = self.get("/metrics").text
        by_status: dict[str, float] = {}
        failed: dict[str, float] = {}
        cost = 0.0
        for line in text.splitlines():
            if line.startswith("arbiter_failed_upstream_calls_total{"):
                billed = re.search(r'billed="([^"]*)"', line)
                assert billed is not None, line
                failed[billed[1]] = failed.get(billed[1], 0) + float(line.rsplit(" ", 1)[1])
            if line.startswith("arbiter_requests_total{"):
                status = re.search(r'status="([^"]*)"', line)
                assert status is not None, line
                by_status[status[1]] = by_status.get(status[1], 0) + float(line.rsplit(" ", 1)[1])
            elif line.startswith("arbiter_cost_usd_total{"):
                cost += float(line.rsplit(" ", 1)[1])
        return by_status, cost, failed

    def snapshot(self) -> Snapshot:
        spent, reserved = self.budget()
        assert reserved == pytest.approx(0, abs=1e-9), f"reserved before the cell: {reserved}"
        by_status, cost, failed = self.all_metrics()
        return Snapshot(spent, by_status, cost, time.monotonic(), failed)

    def decision(self, decision_id: str) -> dict[str, Any]:
        return recorded_decision(self.sidecar, decision_id)

    def billed_usd(self) -> float:
        return sum((p * PRICES[m][0] + c * PRICES[m][1]) / 1e6 for m, p, c in self.up.bills)


@dataclass(slots=True)
class Snapshot:
    spent: float
    by_status: dict[str, float]
    cost: float
    at: float
    failed_calls: dict[str, float]


# attempts the upstream refused before any work, or that never left: they commit nothing
NOT_BILLED = {"upstream_rate_limited", "upstream_paused"}


def check_books(
    rig: Rig,
    before: Snapshot,
    decision_id: str,
    status: str,
    *,
    whole: bool,
    counted: bool = False,
) -> dict[str, Any]:
    """The checks every cell makes once its request is over (see the module's docstring).
    `whole`: every answer the upstream sent was whole, so where no attempt failed in a way the
    upstream may have billed (budget.may_be_billed: those commit the call's worst case), the
    spend is exactly what the upstream billed; otherwise never less. `counted`: the answer's
    usage counts were no counts (the absurd fault): it is priced from the tokens it relayed
    (dropped_usage.py), near the bill (the scripted upstream bills 7 tokens for any answer,
    5 words of text or two tool calls), never its worst case (what it was: ~100x the bill)."""
    assert time.monotonic() - before.at < rig.deadline_s + 5, "the cell ran past the deadline"
    record = rig.decision(decision_id)
    assert record["status"] == status, record
    feed = rig.get("/arbiter/decisions?limit=50").json()["data"]
    assert [d["id"] for d in feed].count(decision_id) == 1, feed[:3]
    cost = float(record["cost_usd"] or 0.0)
    deadline = time.monotonic() + 10
    while True:  # a stream's settle may land a moment after its decision is readable
        spent, reserved = rig.budget()
        if spent - before.spent == pytest.approx(cost, abs=1e-9) and reserved < 1e-9:
            break
        assert time.monotonic() < deadline, (spent - before.spent, reserved, record)
        time.sleep(0.05)
    attempts = record["attempts"]
    free = [a["ok"] or a["error"] in NOT_BILLED or a.get("billed") is False for a in attempts]
    if all(free) and (whole or not any(a["ok"] for a in attempts)):
        # every failed call cost nothing (and no answer had to be priced without its usage)
        assert cost == pytest.approx(rig.billed_usd(), rel=1e-6, abs=1e-9), (rig.up.bills, record)
    elif counted:
        bill = rig.billed_usd()
        assert bill / 2 <= cost <= 4 * bill, (rig.up.bills, record)
    else:
        assert cost >= rig.billed_usd() - 1e-9, (rig.up.bills, record)
    by_status, metric_cost, failed = rig.all_metrics()
    for billed, word in ((True, "maybe"), (False, "no")):
        n = sum(1 for a in attempts if a.get("billed") is billed)
        assert failed.get(word, 0) - before.failed_calls.get(word, 0) == n, (failed, record)
    moved = {
        k: v - before.by_status.get(k, 0)
        for k, v in by_status.items()
        if v != before.by_status.get(k, 0)
    }
    assert moved == {status: 1}, (moved, record)
    assert metric_cost - before.cost == pytest.approx(cost, abs=1e-9), record
    return record


@contextmanager
def _rig(tmp: Path, timeouts: Timeouts) -> Iterator[Rig]:
    with fault_upstream() as up:
        text = config(up.port, tmp / "a.db", timeouts)
        with (
            keyed_sidecar(tmp / "arbiter.toml", text) as (sidecar, key),
            sdk_clients(sidecar, key, timeouts.deadline_s + 6) as (gpt, claude),
        ):
            yield Rig(up, sidecar, key, timeouts.deadline_s, gpt, claude)


class Rigs:
    """A module's rigs: the main one, and the stall cells' (STALL_TIMEOUTS), started on first
    use; both stopped at the module's end."""

    def __init__(self, tmp: Path, stack: ExitStack) -> None:
        self._tmp, self._stack = tmp, stack
        self._rigs: dict[Timeouts, Rig] = {}

    def get(self, timeouts: Timeouts) -> Rig:
        if timeouts not in self._rigs:
            tmp = self._tmp / f"rig{len(self._rigs)}"
            tmp.mkdir()
            self._rigs[timeouts] = self._stack.enter_context(_rig(tmp, timeouts))
        return self._rigs[timeouts]


@pytest.fixture(scope="module", name="rigs")
def rigs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rigs]:
    with ExitStack() as stack:
        yield Rigs(tmp_path_factory.mktemp("probe19a"), stack)


@pytest.fixture(name="rig")
def rig_fixture(request: pytest.FixtureRequest, rigs: Rigs) -> Rig:
    """The rig a cell runs on: a cell whose upstream stalls (its `fault` parameter names
    `stall@` or `midstall@`) waits out a timeout, so it runs on the short-timeout rig; every
    other cell on the module's main rig."""
    params = getattr(request.node, "callspec", None)
    fault = str(params.params.get("fault", "")) if params is not None else ""
    return rigs.get(STALL_TIMEOUTS if "stall@" in fault else TIMEOUTS)


def strict(obj: Any) -> Any:
    """`obj` (what an SDK parsed, leniently: a missing required field reads as None) validated
    by its own pydantic type, strictly: the answer is well-formed in its surface's shape."""
    return type(obj).model_validate(obj.to_dict(mode="json"))
