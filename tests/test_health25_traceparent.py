"""health25: with traces on, each upstream call of a real `arbiter serve` child carries the W3C
`traceparent` of its attempt span (the CLIENT span the OTLP collector receives), in the client's
trace when the client sent one, so a tracing upstream's spans join it; never the client's
`tracestate` or `baggage`. With traces off, no `traceparent` goes upstream at all."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openai

from tests.ops25_rig import Upstream, collector, served
from tests.scripted_upstream import serving

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"
PROPAGATED = ("traceparent", "tracestate", "baggage")
JUDGE = "impartial"  # in a grading judge's system prompt (its call is the grade span's child)


class Heard(Upstream):
    """ops25's upstream, keeping each call's tracing headers (and its prompt's marker)."""

    calls: ClassVar[list[dict[str, Any]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        with self.lock:
            self.calls.append({name: self.headers.get(name) for name in PROPAGATED})
        super().do_POST()

    def read_json(self) -> Any:
        body = super().read_json()
        with self.lock:  # which request (or a judge's) this call was
            self.calls[-1]["said"] = str(body.get("messages"))[:60]
        return body


def _chat(root: str, content: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{root}/v1/chat/completions", headers=headers, timeout=30,
        json={"model": "sim-small", "messages": [{"role": "user", "content": content}]},
    )  # fmt: skip


def _workload(root: str) -> None:
    """A client with a trace and hostile tracestate/baggage; one without; a stream; a failed
    call (two attempts)."""
    r = _chat(root, "one", {"traceparent": CLIENT_PARENT, "tracestate": "k=v", "baggage": "u=1"})
    assert r.status_code == 200, r.text
    assert _chat(root, "two", {}).status_code == 200
    oa = openai.OpenAI(base_url=f"{root}/v1", api_key="x", max_retries=0)
    for _ in oa.chat.completions.create(
        model="sim-small", messages=[{"role": "user", "content": "three"}], stream=True
    ):
        pass
    assert _chat(root, "FAIL", {"traceparent": CLIENT_PARENT}).status_code == 503


def test_each_upstream_call_carries_its_attempt_spans_traceparent(tmp_path: Path) -> None:
    Heard.calls = []
    with (
        serving(Heard) as url,
        collector() as (endpoint, got),
        served(tmp_path, url, {"telemetry": {"otlp_endpoint": endpoint}}) as s,
    ):
        _workload(s.root)
        calls = list(Heard.calls)
    attempts = {(sp.trace_id.hex(), sp.span_id.hex()) for sp in got.spans if sp.kind == 3}
    ours = {(sp.trace_id.hex(), sp.span_id.hex()) for sp in got.spans}
    sent, chats = [], []
    for call in calls:
        assert call["tracestate"] is None and call["baggage"] is None, call
        version, trace_id, span_id, flags = call["traceparent"].split("-")
        assert (version, flags) == ("00", "01")
        assert (trace_id, span_id) in ours  # a span the collector received
        sent.append((trace_id, span_id))
        if JUDGE not in call["said"]:
            chats.append((trace_id, span_id))
    assert len(set(sent)) == len(sent)  # each call its own span
    assert len(chats) == 5, calls  # one, two, three, and the failed one's two attempts
    assert set(chats) <= attempts  # each its attempt's CLIENT span
    in_client_trace = [span for trace_id, span in chats if trace_id == CLIENT_TRACE]
    assert len(in_client_trace) == 3, calls  # "one" and the two failed attempts
    assert len({trace_id for trace_id, _ in chats}) == 3  # the client's; "two", "three" one each


def test_no_traceparent_upstream_when_traces_are_off(tmp_path: Path) -> None:
    Heard.calls = []
    with serving(Heard) as url, served(tmp_path, url) as s:
        _workload(s.root)
        calls = list(Heard.calls)
    assert len(calls) >= 5
    assert all(call[name] is None for call in calls for name in PROPAGATED), calls
