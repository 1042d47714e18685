"""Two more places an upstream can say a cost or count that is no finite number.

A cost header (`x-cost-usd: nan`, `inf`): `float()` reads it, and the report was dropped as past
the fixed bound with no word to the operator, while the body's `"cost": NaN` raises the
`cost_report_dropped` alert (side `non-finite`). Both now raise it; the call is priced from its
usage either way.

An Anthropic upstream's stream whose `message_delta` usage holds `NaN` / `Infinity` (a cost
field beside the counts, or a count itself): lenient_json reads it, and the frame was relayed as
it came, so a client whose parser refuses such text (JSON.parse, orjson) could not read the end
of its own answer. The frame is now written anew (as the OpenAI stream path writes a chunk
holding one), and the bill is priced from the usage the stream reported (a count that is no
number makes the whole usage not reported; money20: the call is then priced from what it
relayed, dropped_usage.py, no longer its worst case).

A real sidecar process (SQLite and PostgreSQL) in front of a scripted upstream on 127.0.0.1
speaking both protocols; the official openai and anthropic SDKs as clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import anthropic
import openai
import orjson
import pytest

from arbiter.offline.demo import DEMO_POOL
from tests.conftest import Sidecar
from tests.scripted_upstream import ScriptedHandler, capped_sidecar, serving
from tests.scripted_upstream import tenant_spent as _spent
from tests.waiting import until

TOKENS = 1000  # the prompt's and the answer's counts in every usage the mock reports


def _priced(model: str) -> float:
    """What TOKENS in and TOKENS out cost at `model`'s prices in the demo registry."""
    pin, pout = DEMO_POOL[model][:2]
    return TOKENS * (pin + pout) / 1e6


# the prompt's first word -> the `x-cost-usd` header the mock sends (OpenAI protocol)
HEADER_COSTS = {"hdrnan": "nan", "hdrinf": "inf"}
# the prompt's first word -> the text of message_delta's usage (Anthropic protocol)
DELTA_USAGE = {
    "costnan": b'{"output_tokens":1000,"cost":NaN}',
    "costinf": b'{"output_tokens":1000,"cost":Infinity}',
    "outnan": b'{"output_tokens":NaN}',
}


class _Upstream(ScriptedHandler):
    protocol_version = "HTTP/1.1"
    calls: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        req = self.read_json()
        content = req["messages"][-1]["content"]
        text = content if isinstance(content, str) else " ".join(p["text"] for p in content)
        word = text.split()[0]
        self.calls.append(word)
        if self.path.endswith("/messages"):
            self._anthropic_stream(req["model"].encode(), DELTA_USAGE[word])
            return
        body = (
            b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"'
            + req["model"].encode()
            + b'","choices":[{"index":0,"finish_reason":"stop",'
            b'"message":{"role":"assistant","content":"ok"}}],'
            b'"usage":{"prompt_tokens":1000,"completion_tokens":1000,"total_tokens":2000}}'
        )
        self.answer(body, headers={"x-cost-usd": HEADER_COSTS[word]})

    def _anthropic_stream(self, model: bytes, usage: bytes) -> None:
        events = [
            (b"message_start", b'{"type":"message_start","message":{"id":"msg_1",'
             b'"type":"message","role":"assistant","model":"' + model + b'","content":[],'
             b'"stop_reason":null,"stop_sequence":null,'
             b'"usage":{"input_tokens":1000,"output_tokens":1}}}'),
            (b"content_block_start", b'{"type":"content_block_start","index":0,'
             b'"content_block":{"type":"text","text":""}}'),
            (b"content_block_delta", b'{"type":"content_block_delta","index":0,'
             b'"delta":{"type":"text_delta","text":"ok"}}'),
            (b"content_block_stop", b'{"type":"content_block_stop","index":0}'),
            (b"message_delta", b'{"type":"message_delta","delta":{"stop_reason":"end_turn",'
             b'"stop_sequence":null},"usage":' + usage + b"}"),
            (b"message_stop", b'{"type":"message_stop"}'),
        ]  # fmt: skip
        body = b"".join(b"event: " + k + b"\ndata: " + d + b"\n\n" for k, d in events)
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
    tmp = tmp_path_factory.mktemp("nonfinite2")
    with capped_sidecar(upstream, request.param, tmp, anthropic_models=("sim-medium",)) as s:
        yield s


def _dropped(s: Sidecar, model: str) -> list[dict[str, Any]]:
    alerts = s.admin("GET", "/arbiter/alerts?limit=1000").json()["data"]
    return [a for a in alerts if a["kind"] == "cost_report_dropped" and a["model"] == model]


def _decision(s: Sidecar, decision: str) -> dict[str, Any]:
    until(lambda: s.admin("GET", f"/arbiter/decisions/{decision}").status_code == 200,
          "the request recorded")  # fmt: skip
    row: dict[str, Any] = s.admin("GET", f"/arbiter/decisions/{decision}").json()
    return row


# one model per header: the alert is raised at most once per model and side each ten minutes
@pytest.mark.parametrize(("word", "model"), [("hdrnan", "sim-premium"), ("hdrinf", "sim-small")])
def test_a_non_finite_cost_header_raises_the_alert_and_is_priced_from_usage(
    sidecar: Sidecar, word: str, model: str
) -> None:
    tenant = f"t-header-{word}"
    key = str(sidecar.create_key(tenant)["key"])
    before = len(_Upstream.calls)
    with openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0) as gpt:
        raw = gpt.chat.completions.with_raw_response.create(
            model=model, max_tokens=2000, messages=[{"role": "user", "content": f"{word} hi"}]
        )
    assert raw.http_response.status_code == 200
    assert raw.parse().choices[0].message.content == "ok"
    assert _Upstream.calls[before:] == [word]
    assert float(raw.headers["x-arbiter-cost-usd"]) == pytest.approx(_priced(model), rel=1e-6)
    row = _decision(sidecar, raw.headers["x-arbiter-decision-id"])
    assert row["status"] == "ok" and row["cost_source"] == "registry", row
    until(lambda: _spent(sidecar, tenant) > 0, "the request settled")
    assert _spent(sidecar, tenant) == pytest.approx(_priced(model), rel=1e-6)
    (alert,) = _dropped(sidecar, model)
    assert alert["data"]["side"] == "non-finite", alert
    assert alert["data"]["reported_cost_usd"] is None, alert


def _frames(raw: bytes) -> list[dict[str, Any]]:
    """Every `data:` payload of an event stream, read by orjson (which refuses NaN, Infinity)."""
    lines = [ln for ln in raw.split(b"\n") if ln.startswith(b"data:")]
    return [orjson.loads(ln[5:]) for ln in lines if ln[5:].strip() not in (b"", b"[DONE]")]


@pytest.mark.parametrize("word", ["costnan", "costinf"])
def test_a_non_finite_cost_in_an_anthropic_streams_usage(sidecar: Sidecar, word: str) -> None:
    """Relayed to an Anthropic client: every frame JSON without a non-number; the SDK reads the
    whole answer and its usage; the bill is the usage's price."""
    tenant = f"t-astream-{word}"
    key = str(sidecar.create_key(tenant)["key"])
    with anthropic.Anthropic(base_url=sidecar.root_url, api_key=key, max_retries=0) as claude:
        with claude.messages.with_streaming_response.create(
            model="sim-medium", max_tokens=2000, stream=True,
            messages=[{"role": "user", "content": f"{word} hi"}],
        ) as r:  # fmt: skip
            assert r.http_response.status_code == 200
            raw = b"".join(r.iter_bytes())
            decision = r.headers["x-arbiter-decision-id"]
        with claude.messages.stream(
            model="sim-medium", max_tokens=2000,
            messages=[{"role": "user", "content": f"{word} again"}],
        ) as s:  # fmt: skip
            final = s.get_final_message()
    frames = _frames(raw)  # before the fix: orjson refused message_delta's frame
    (delta,) = [f for f in frames if f["type"] == "message_delta"]
    assert delta["usage"]["output_tokens"] == TOKENS, delta
    assert final.content[0].type == "text" and final.content[0].text == "ok"
    assert final.usage.output_tokens == TOKENS
    row = _decision(sidecar, decision)
    assert row["status"] == "ok" and row["cost_usd"] == pytest.approx(_priced("sim-medium"))
    until(lambda: _spent(sidecar, tenant) >= 2 * _priced("sim-medium") * 0.999, "settled")
    assert _spent(sidecar, tenant) == pytest.approx(2 * _priced("sim-medium"), rel=1e-6)


def test_a_non_finite_cost_in_an_anthropic_stream_to_an_openai_client(sidecar: Sidecar) -> None:
    """Translated for an OpenAI client: its usage chunk holds the counts, no non-number."""
    tenant = "t-astream-openai"
    key = str(sidecar.create_key(tenant)["key"])
    gpt = openai.OpenAI(base_url=sidecar.base_url, api_key=key, max_retries=0)
    with gpt, gpt.chat.completions.with_streaming_response.create(
        model="sim-medium", max_tokens=2000, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "costnan hi"}],
    ) as r:  # fmt: skip
        raw = b"".join(r.iter_bytes())
        decision = r.headers["x-arbiter-decision-id"]
    chunks = _frames(raw)
    (usage,) = [c["usage"] for c in chunks if c.get("usage")]
    assert usage["completion_tokens"] == TOKENS and usage["prompt_tokens"] == TOKENS, usage
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    row = _decision(sidecar, decision)
    assert row["status"] == "ok" and row["cost_usd"] == pytest.approx(_priced("sim-medium"))


def test_a_non_finite_count_in_an_anthropic_streams_usage(sidecar: Sidecar) -> None:
    """`"output_tokens": NaN`: no non-number reaches the client, and the call is billed from
    what it relayed (money20: its prompt and output counted, was its worst case)."""
    tenant = "t-astream-outnan"
    key = str(sidecar.create_key(tenant)["key"])
    claude = anthropic.Anthropic(base_url=sidecar.root_url, api_key=key, max_retries=0)
    with claude, claude.messages.with_streaming_response.create(
        model="sim-medium", max_tokens=2000, stream=True,
        messages=[{"role": "user", "content": "outnan hi"}],
    ) as r:  # fmt: skip
        assert r.http_response.status_code == 200
        raw = b"".join(r.iter_bytes())
        decision = r.headers["x-arbiter-decision-id"]
    frames = _frames(raw)
    (delta,) = [f for f in frames if f["type"] == "message_delta"]
    assert isinstance(delta["usage"]["output_tokens"], int), delta
    row = _decision(sidecar, decision)
    worst = 2000 * DEMO_POOL["sim-medium"][1] / 1e6  # the answer's limit at the output price
    pin, pout = DEMO_POOL["sim-medium"][:2]
    counted = (row["prompt_tokens"] * pin + row["completion_tokens"] * pout) / 1e6
    assert row["status"] == "ok" and row["completion_tokens"] > 0, row
    assert row["cost_usd"] == pytest.approx(counted, rel=1e-6) and counted < worst, row
    until(lambda: _spent(sidecar, tenant) > 0, "settled")
    assert _spent(sidecar, tenant) == pytest.approx(row["cost_usd"], rel=1e-6)
