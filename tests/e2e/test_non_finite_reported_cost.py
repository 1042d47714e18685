"""An upstream whose answer says `"usage": {"cost": NaN}` (or Infinity, -Infinity, 1e999: JSON
text Python's own parser and the openai SDK read, orjson refuses) was a malformed answer: a
502, retried on the next candidate, and each failed try charged its worst case. A cost that is
no number is a report not to believe, not a failed answer: the call is priced from its usage
(as a disbelieved report is, with the `cost_report_dropped` alert), answered 200 once, charged
once. A real sidecar process (SQLite and PostgreSQL) in front of a scripted upstream on
127.0.0.1 that counts its own calls, the official openai and anthropic SDKs as clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, serving
from tests.scripted_upstream import tenant_spent as _spent
from tests.waiting import until

PREMIUM = (15.0, 60.0)  # sim-premium's prices in the demo registry, $ per million tokens
PRICED = (1000 * PREMIUM[0] + 1000 * PREMIUM[1]) / 1e6  # $0.075: the usage's price
# the prompt's first word -> the text of `usage.cost` in the upstream's answer
COSTS = {"nan": b"NaN", "inf": b"Infinity", "neginf": b"-Infinity", "huge": b"1e999"}


class _Upstream(ScriptedHandler):
    protocol_version = "HTTP/1.1"
    calls: ClassVar[list[str]] = []  # the first word of each call's prompt: the mock's own count

    def do_POST(self) -> None:
        req = self.read_json()
        content = req["messages"][-1]["content"]  # a string, or parts (from /v1/messages)
        text = content if isinstance(content, str) else " ".join(p["text"] for p in content)
        word = text.split()[0]
        self.calls.append(word)
        cost = COSTS.get(word, b"0.05")
        if req.get("stream"):
            self._stream(req["model"].encode(), cost)
            return
        body = (
            b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"'
            + req["model"].encode()
            + b'","choices":[{"index":0,"finish_reason":"stop",'
            b'"message":{"role":"assistant","content":"ok"}}],'
            b'"usage":{"prompt_tokens":1000,"completion_tokens":1000,"total_tokens":2000,'
            b'"cost":' + cost + b"}}"
        )
        self.answer(body)

    def _stream(self, model: bytes, cost: bytes) -> None:
        head = b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"' + model
        events = [
            head + b'","choices":[{"index":0,"delta":{"role":"assistant","content":"ok"},'
            b'"finish_reason":null}]}',
            head + b'","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
            head + b'","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":1000,'
            b'"total_tokens":2000,"cost":' + cost + b"}}",
        ]
        body = b"".join(b"data: " + e + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        self.answer(body, "text/event-stream")


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Upstream) as url:
        yield url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def sidecar(
    request: pytest.FixtureRequest, upstream: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sidecar]:
    tmp = tmp_path_factory.mktemp("nonfinite")
    with capped_sidecar(upstream, request.param, tmp) as s:
        yield s


def _dropped_alerts(s: Sidecar) -> list[dict[str, Any]]:
    alerts = s.admin("GET", "/arbiter/alerts?limit=1000").json()["data"]
    return [a for a in alerts if a["kind"] == "cost_report_dropped"]


@pytest.mark.parametrize("word", sorted(COSTS))
def test_a_non_finite_cost_is_priced_from_usage_answered_once_and_charged_once(
    sidecar: Sidecar, word: str
) -> None:
    tenant = f"t-nonfinite-{word}"
    key = str(sidecar.create_key(tenant)["key"])
    before = len(_Upstream.calls)
    with openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0) as gpt:
        raw = gpt.chat.completions.with_raw_response.create(
            model="sim-premium",
            max_tokens=2000,
            messages=[{"role": "user", "content": f"{word} please"}],
        )
    assert raw.http_response.status_code == 200
    answer = raw.parse()
    assert answer.choices[0].message.content == "ok"
    assert _Upstream.calls[before:] == [word]  # one call: not retried, not failed over
    assert float(raw.headers["x-arbiter-cost-usd"]) == pytest.approx(PRICED, rel=1e-6)
    # the body says the request's cost (a number), not the upstream's non-number
    assert answer.usage is not None
    assert (answer.usage.model_extra or {})["cost"] == pytest.approx(PRICED, rel=1e-6)
    until(lambda: _spent(sidecar, tenant) > 0, "the request settled")
    assert _spent(sidecar, tenant) == pytest.approx(PRICED, rel=1e-6)
    row = sidecar.admin("GET", f"/arbiter/decisions/{raw.headers['x-arbiter-decision-id']}")
    assert row.json()["status"] == "ok" and row.json()["cost_source"] == "registry"
    dropped = _dropped_alerts(sidecar)
    assert dropped and dropped[0]["model"] == "sim-premium", dropped


def test_a_non_finite_cost_through_the_messages_surface(sidecar: Sidecar) -> None:
    tenant = "t-nonfinite-claude"
    key = str(sidecar.create_key(tenant)["key"])
    before = len(_Upstream.calls)
    with anthropic.Anthropic(base_url=sidecar.root_url, api_key=key, max_retries=0) as claude:
        raw = claude.messages.with_raw_response.create(
            model="sim-premium",
            max_tokens=2000,
            messages=[{"role": "user", "content": "nan please"}],
        )
    assert raw.http_response.status_code == 200
    assert raw.parse().content[0].type == "text"
    assert _Upstream.calls[before:] == ["nan"]
    assert float(raw.headers["x-arbiter-cost-usd"]) == pytest.approx(PRICED, rel=1e-6)
    until(lambda: _spent(sidecar, tenant) > 0, "the request settled")
    assert _spent(sidecar, tenant) == pytest.approx(PRICED, rel=1e-6)


def test_a_finite_report_still_stands(sidecar: Sidecar) -> None:
    key = str(sidecar.create_key("t-nonfinite-control")["key"])
    r = httpx.post(
        f"{sidecar.base_url}/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "sim-premium", "max_tokens": 2000,
              "messages": [{"role": "user", "content": "finite please"}]},
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert float(r.headers["x-arbiter-cost-usd"]) == pytest.approx(0.05, rel=1e-6)


def test_a_non_finite_cost_in_a_streams_usage(sidecar: Sidecar) -> None:
    """The stream's usage chunk says `"cost": NaN`: answered once, priced from its usage, and
    no non-number relayed to the client (JSON.parse and orjson refuse one)."""
    tenant = "t-nonfinite-stream"
    key = str(sidecar.create_key(tenant)["key"])
    before = len(_Upstream.calls)
    with httpx.stream(
        "POST", f"{sidecar.base_url}/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "sim-premium", "max_tokens": 2000, "stream": True,
              "stream_options": {"include_usage": True},
              "messages": [{"role": "user", "content": "nan please"}]},
        timeout=30,
    ) as r:  # fmt: skip
        assert r.status_code == 200
        raw = r.read()
    assert _Upstream.calls[before:] == ["nan"]
    frames = [f.removeprefix(b"data: ") for f in raw.split(b"\n\n") if f.startswith(b"data: {")]
    chunks = [orjson.loads(f) for f in frames]  # every frame is JSON orjson reads
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    decision = r.headers["x-arbiter-decision-id"]
    until(lambda: sidecar.admin("GET", f"/arbiter/decisions/{decision}").status_code == 200,
          "the stream recorded")  # fmt: skip
    row = sidecar.admin("GET", f"/arbiter/decisions/{decision}").json()
    assert row["status"] == "ok" and row["cost_usd"] == pytest.approx(PRICED, rel=1e-6)
    until(lambda: _spent(sidecar, tenant) > 0, "the stream settled")
    assert _spent(sidecar, tenant) == pytest.approx(PRICED, rel=1e-6)
