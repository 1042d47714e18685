"""An outsider's probe of `max_tokens` absent on `/v1/completions`: the budget reserves OpenAI's
default (16 tokens a choice) but the body went upstream without a limit, and an upstream whose
own default is longer (llama.cpp's server generates to the context's end; this one bills 3,000
tokens) was billed $0.18 for a call reserved at $0.00111: one request passed a $0.01 cap 18 times
over, where the promise is at most one request's worst case. Now the reserved limit is sent.
A real sidecar process in front of a scripted upstream on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from arbiter.offline.demo import demo_settings
from arbiter.toml_text import to_toml
from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, serving
from tests.waiting import until

UNBOUNDED_DEFAULT = 3000  # what the upstream generates (and bills) when no limit is sent
CAP = 0.01
PREMIUM_OUT = 60.0  # sim-premium's output price in the demo registry, $ per million tokens
SENT: list[dict[str, Any]] = []


class _LongByDefault(ScriptedHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        req = self.read_json()
        SENT.append(req)
        n = req.get("n") or 1
        out = (req.get("max_tokens") or UNBOUNDED_DEFAULT) * n
        body = orjson.dumps({
            "id": "cmpl-1", "object": "text_completion", "model": req["model"],
            "choices": [{"index": i, "text": "x", "finish_reason": "length"} for i in range(n)],
            "usage": {"prompt_tokens": 2, "completion_tokens": out, "total_tokens": 2 + out},
        })  # fmt: skip
        self.answer(body)


@pytest.fixture
def upstream() -> Iterator[str]:
    SENT.clear()
    with serving(_LongByDefault) as url:
        yield url


def test_a_completion_without_max_tokens_is_held_to_what_was_reserved(
    tmp_path: Path, upstream: str
) -> None:
    doc = demo_settings(upstream, tmp_path / "a.db")
    doc["routing"]["judge_sample_rate"] = 0.0
    doc["budgets"] = {"caps": [{"scope": "tenant", "limit_usd": CAP, "window": "total"}]}
    (tmp_path / "a.toml").write_text(to_toml(doc))
    s = Sidecar(tmp_path / "a.toml").start()
    try:
        key = str(s.create_key("t18m")["key"])
        statuses = []
        for body in ({"model": "sim-premium", "prompt": "hello"},
                     {"model": "sim-premium", "prompt": "hello", "max_tokens": None, "n": 2},
                     {"model": "sim-premium", "prompt": "hello", "max_tokens": 5}):  # fmt: skip
            r = httpx.post(f"{s.base_url}/completions", json=body, timeout=30,
                           headers={"authorization": f"Bearer {key}"})  # fmt: skip
            statuses.append(r.status_code)
        assert statuses == [200, 200, 200]
        assert [x.get("max_tokens") for x in SENT] == [16, 16, 5]

        def row() -> dict[str, Any]:
            return dict(s.admin("GET", "/arbiter/budgets?tenant=t18m").json()["data"][0])

        until(lambda: row()["reserved_usd"] == 0.0, "every request settled")
        spent = float(row()["spent_usd"])
        worst_one = 2 * 16 * PREMIUM_OUT / 1e6 + 1e-4  # the dearest request's outputs, its prompt
        assert spent <= CAP + worst_one, spent
        assert spent == pytest.approx((16 + 32 + 5) * PREMIUM_OUT / 1e6 + 3 * 2 * 15.0 / 1e6)
    finally:
        s.stop()
