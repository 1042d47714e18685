"""probe22c: feedback and a decision's page reached through another replica than the one that
answered (a load balancer in front of two `arbiter serve` on one PostgreSQL store).

A decision is written behind (`store.flush_interval_ms`, 200 ms by default): a client that
grades an answer at once, or opens its "why this model" page, is often sent to the other
replica, which must not answer "No decision with id ..." for an id its sibling just gave out
(before the fix: 10 of 10 such grades were 404s and lost). An id no replica gave out is still a
404, and an id of the wrong shape one at once (the control)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Sidecar
from tests.fault_upstream import fault_upstream
from tests.pg import empty_store_url
from tests.probe19a_harness import config

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def _replicas_config(port: int, tmp: Path, url: str) -> Path:
    unused = tmp / "unused.db"
    text = config(port, unused).replace(f'url = "sqlite:///{unused}"', f'url = "{url}"')
    text = text.replace("flush_interval_ms = 20", "flush_interval_ms = 200")
    assert url in text and "flush_interval_ms = 200" in text
    (tmp / "a.toml").write_text(text)
    return tmp / "a.toml"


def test_feedback_and_the_decision_page_on_the_other_replica_right_after_the_answer(
    tmp_path: Path,
) -> None:
    with fault_upstream() as up, empty_store_url("postgres", tmp_path / "unused.db") as url:
        path = _replicas_config(up.port, tmp_path, url)
        a = Sidecar(path).start()
        b = Sidecar(path).start()
        try:
            key = str(a.create_key("alpha")["key"])
            auth = {"authorization": f"Bearer {key}"}
            ca = httpx.Client(base_url=a.root_url, headers=auth, timeout=20)
            cb = httpx.Client(base_url=b.root_url, headers=auth, timeout=20)
            with ca, cb:
                for i in range(4):
                    chat = {"model": "auto", "messages": [{"role": "user", "content": f"hi {i}"}]}
                    r = ca.post("/v1/chat/completions", json=chat)
                    assert r.status_code == 200, r.text
                    did = r.headers["x-arbiter-decision-id"]
                    fb = cb.post("/v1/feedback", json={"decision_id": did, "score": 0.25})
                    assert fb.status_code == 200, (i, fb.text)
                    assert fb.json()["score"] == 0.25 and fb.json()["model"] == "oa-1"
                    r = ca.post("/v1/chat/completions", json=chat)
                    shown = r.headers["x-arbiter-decision-id"]
                    page = cb.get(f"/arbiter/decisions/{shown}")
                    assert page.status_code == 200, (i, page.text)
                # the grade stands, read from either replica
                row = ca.get(f"/arbiter/decisions/{did}").json()
                assert row["grade"] == 0.25 and row["grader"] == "feedback", row
                # an id of the right shape that no replica gave out: still a 404, in bounded time
                forged = did[:-8] + "ffffffff"
                t0 = time.monotonic()
                fb = cb.post("/v1/feedback", json={"decision_id": forged, "score": 1})
                assert fb.status_code == 404 and fb.json()["error"]["code"] == "not_found"
                assert 0.4 < time.monotonic() - t0 < 5.0  # waited for A's writer (0.65 s)
                # another tenant's id read through the other replica: the same 404, after the
                # same wait (answered at once, it would tell the caller that the id exists)
                other = {"authorization": f"Bearer {a.create_key('beta')['key']}"}
                # (each its own id: a miss, once waited for, is answered at once a while)
                for path in ("/v1/feedback", f"/arbiter/decisions/{shown}"):
                    t0 = time.monotonic()
                    if path == "/v1/feedback":
                        body = {"decision_id": did, "score": 1}
                        fb = cb.post(path, json=body, headers=other)
                    else:
                        fb = cb.get(path, headers=other)
                    assert fb.status_code == 404, fb.text
                    assert 0.4 < time.monotonic() - t0 < 5.0, path
                # the control: an id of no replica's shape is a 404 at once
                t0 = time.monotonic()
                fb = cb.post("/v1/feedback", json={"decision_id": "nope", "score": 1})
                assert fb.status_code == 404 and time.monotonic() - t0 < 0.15
        finally:
            a.stop()
            b.stop()


def _arm(c: httpx.Client, model: str) -> dict[str, float]:
    rows = [row for row in c.get("/arbiter/policy").json()["data"] if row["model"] == model]
    assert len(rows) == 1, rows
    return {name: rows[0][name] for name in ("alpha", "beta", "n")}


def test_grades_of_one_decision_sent_through_both_replicas_count_once_as_the_last(
    tmp_path: Path,
) -> None:
    """A client re-grading one answer, its requests spread over two replicas, must leave the
    arm with that answer once, at its last grade. Before: each replica retracted the grade it
    had applied itself, not the one standing (A 1, B 0, A 0 left alpha 0, beta 2, n 1; the
    cycle A 1, B 0, A 0, B 1 ended beta 1 for a last grade of 1)."""
    with fault_upstream() as up, empty_store_url("postgres", tmp_path / "unused.db") as url:
        path = _replicas_config(up.port, tmp_path, url)
        text = path.read_text().replace(
            "flush_interval_ms = 200", "flush_interval_ms = 20\nsync_interval_ms = 200"
        )
        path.write_text(text)
        a = Sidecar(path).start()
        b = Sidecar(path).start()
        try:
            auth = {"authorization": f"Bearer {a.create_key('alpha')['key']}"}
            ca = httpx.Client(base_url=a.root_url, headers=auth, timeout=20)
            cb = httpx.Client(base_url=b.root_url, headers=auth, timeout=20)
            with ca, cb:
                chat = {"model": "oa-1", "messages": [{"role": "user", "content": "Say hi."}]}
                r = ca.post("/v1/chat/completions", json=chat)
                assert r.status_code == 200, r.text
                did = r.headers["x-arbiter-decision-id"]
                steps = [(ca, 1.0), (cb, 0.0), (ca, 0.0), (cb, 1.0), (ca, 1.0), (cb, 0.25)]
                for i, (client, score) in enumerate(steps):
                    fb = client.post("/v1/feedback", json={"decision_id": did, "score": score})
                    assert fb.status_code == 200, fb.text
                    time.sleep(0.3)  # past the writer's flush and a policy sync
                    if i == 2:  # the standing grade 0, once
                        want = {"alpha": 0.0, "beta": 1.0, "n": 1.0}
                        assert _arm(ca, "oa-1") == pytest.approx(want), i
                time.sleep(0.5)
                want = {"alpha": 0.25, "beta": 0.75, "n": 1.0}
                for client in (ca, cb):
                    assert _arm(client, "oa-1") == pytest.approx(want, abs=1e-3)
                assert ca.get(f"/arbiter/decisions/{did}").json()["grade"] == 0.25
        finally:
            a.stop()
            b.stop()
