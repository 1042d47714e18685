"""probe22c: feedback on a request that failed (the client got an error, no answer) is a 400.

Before, it was taken (200) and taught the router that the model which failed had answered at
the grade sent: a 400 from oa-1 graded 1.0 left the arm (chat, oa-1) at n 1, alpha 1. The
control: the same tenant's answered request is graded as before. Real `arbiter serve`, the
scripted upstream (its `status@400` fault), raw HTTP as a client's grading script sends it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Sidecar
from tests.fault_upstream import fault_upstream
from tests.probe19a_harness import config

pytestmark = pytest.mark.timeout(120)


def _ask(c: httpx.Client, model: str, text: str) -> httpx.Response:
    return c.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
    )


def test_feedback_on_a_failed_request_is_refused_and_teaches_nothing(tmp_path: Path) -> None:
    with fault_upstream() as up:
        (tmp_path / "a.toml").write_text(config(up.port, tmp_path / "a.db"))
        sc = Sidecar(tmp_path / "a.toml").start()
        try:
            auth = {"authorization": f"Bearer {sc.create_key('alpha')['key']}"}
            with httpx.Client(base_url=sc.root_url, headers=auth, timeout=20) as c:
                for model in ("oa-1", "auto"):
                    r = _ask(c, model, "Say hi. [[fault:oa-1=status@400]]")
                    assert r.status_code == 400, r.text
                    did = r.headers["x-arbiter-decision-id"]
                    assert c.get(f"/arbiter/decisions/{did}").json()["status"] == "failed"
                    fb = c.post("/v1/feedback", json={"decision_id": did, "score": 1.0})
                    assert fb.status_code == 400, (model, fb.text)
                    err = fb.json()["error"]
                    assert err["param"] == "decision_id" and "failed" in err["message"], err
                time.sleep(0.3)
                assert [row for row in c.get("/arbiter/policy").json()["data"] if row["n"]] == []
                r = _ask(c, "oa-1", "Say hi.")  # the control: an answer is graded
                assert r.status_code == 200, r.text
                fb = c.post(
                    "/v1/feedback",
                    json={"decision_id": r.headers["x-arbiter-decision-id"], "score": 1.0},
                )
                assert fb.status_code == 200, fb.text
        finally:
            sc.stop()
