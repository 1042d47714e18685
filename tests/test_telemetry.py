"""OpenTelemetry traces with the real SDK: spans for the request, the route, each upstream attempt
(GenAI semantic-convention attributes) and grading, caught by the SDK's in-memory exporter; one
export over OTLP/HTTP to a loopback receiver; and, with traces off, no opentelemetry import."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from arbiter import telemetry
from arbiter.config import TelemetrySettings
from tests.inproc import sidecar_in_process
from tests.waiting import until_async

CLAUDE = "sim-medium"
USER = [{"role": "user", "content": "What is 12 + 30? Answer with the number."}]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use(provider.get_tracer("arbiter-test"))
    try:
        yield exporter
    finally:
        telemetry.use(None)
        provider.shutdown()


def by_trace(finished: tuple[ReadableSpan, ...], root_name: str) -> list[list[ReadableSpan]]:
    roots = [s for s in finished if s.name == root_name and s.parent is None]
    return [[s for s in finished if s.context.trace_id == r.context.trace_id] for r in roots]


def test_spans_for_request_route_attempt_and_grade(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            r = await sc.client.post(
                "/v1/chat/completions", json={"model": "auto", "messages": USER}, headers=sc.auth
            )
            assert r.status_code == 200
            r2 = await sc.client.post(
                "/v1/chat/completions",
                json={"model": CLAUDE, "messages": USER, "stream": True},
                headers=sc.auth,
            )
            assert r2.status_code == 200
            # the stream's close (which ends its root span) runs in the background: wait for it
            await until_async(
                lambda: len(by_trace(spans.get_finished_spans(), "POST /v1/chat/completions")) >= 2,
                "both requests' root spans",
            )
            await sc.services.learner.drain()
            traces = by_trace(spans.get_finished_spans(), "POST /v1/chat/completions")
            assert len(traces) == 2
            for trace, resp, protocol in ((traces[0], r, "openai"), (traces[1], r2, "anthropic")):
                names = {s.name: s for s in trace}
                root = names["POST /v1/chat/completions"]
                chosen = resp.headers["x-arbiter-model"]
                attrs = dict(root.attributes or {})
                assert attrs["gen_ai.response.model"] == chosen
                assert attrs["arbiter.decision_id"] == resp.headers["x-arbiter-decision-id"]
                assert attrs["http.response.status_code"] == 200
                assert attrs["gen_ai.usage.output_tokens"] > 0
                route = names["route"]
                assert route.parent is not None and route.parent.span_id == root.context.span_id
                assert dict(route.attributes or {})["arbiter.chosen_model"] == chosen
                call = names[f"chat {chosen}"]
                assert call.kind == SpanKind.CLIENT
                assert call.parent is not None and call.parent.span_id == root.context.span_id
                cattrs = dict(call.attributes or {})
                assert cattrs["gen_ai.operation.name"] == "chat"
                if resp is r2:
                    assert cattrs["gen_ai.provider.name"] == protocol
                assert cattrs["gen_ai.request.model"] == sc.services.registry[chosen].upstream_model
            first = {s.name: s for s in traces[0]}
            call = first[f"chat {r.headers['x-arbiter-model']}"]
            assert dict(call.attributes or {})["gen_ai.usage.input_tokens"] > 0
            grade = first["grade"]  # the arithmetic answer is graded automatically
            assert dict(grade.attributes or {})["arbiter.grader"] == "auto"

    asyncio.run(main())


def test_a_failed_attempt_span_carries_its_error(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    import httpx

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            async with httpx.AsyncClient() as c:
                base = sc.sim.base_url.removesuffix("/v1")
                await c.post(f"{base}/_sim/control", json={"model": "sim-small", "down": True})
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "sim-small", "messages": USER},
                headers=sc.auth,
            )
            assert r.status_code >= 500
            failed = [s for s in spans.get_finished_spans() if s.name == "chat sim-small"]
            assert failed and all(dict(s.attributes or {}).get("error.type") for s in failed), (
                failed
            )
            root = next(s for s in spans.get_finished_spans() if s.parent is None)
            assert dict(root.attributes or {})["arbiter.outcome"] == "failed"

    asyncio.run(main())


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_spans_export_over_otlp_http_to_a_loopback_collector(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.bodies = []
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        assert telemetry.configure(TelemetrySettings(otlp_endpoint=endpoint), env={})

        async def main() -> None:
            async with sidecar_in_process(tmp_path) as sc:
                r = await sc.client.post(
                    "/v1/embeddings", json={"model": "sim-small", "input": "x"}, headers=sc.auth
                )
                assert r.status_code == 200

        asyncio.run(main())
        telemetry.shutdown()  # flushes the batch
    finally:
        telemetry.use(None)
        server.shutdown()
        server.server_close()
    assert _Receiver.bodies, "nothing was exported"
    names = set()
    for path, body in _Receiver.bodies:
        assert path == "/v1/traces"
        export = ExportTraceServiceRequest.FromString(body)
        for rs in export.resource_spans:
            for ss in rs.scope_spans:
                names.update(s.name for s in ss.spans)
    assert {"POST /v1/embeddings", "embeddings sim-small"} <= names, names


def test_endpoint_from_config_or_the_standard_variables() -> None:
    off = TelemetrySettings()
    assert telemetry.endpoint_of(off, {}) is None
    assert telemetry.endpoint_of(off, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == (
        "http://c:4318/v1/traces"
    )
    traces = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}
    assert telemetry.endpoint_of(off, traces) == "http://c:4318/custom"
    on = TelemetrySettings(otlp_endpoint="http://x:4318")
    assert telemetry.endpoint_of(on, traces) == "http://x:4318/v1/traces"
    # a collector URL with a query: the path before it (was `...?token=abcdefgh/v1/traces`)
    gateway = TelemetrySettings(otlp_endpoint="https://gw.example/otlp?token=abcdefgh")
    assert telemetry.endpoint_of(gateway, {}) == "https://gw.example/otlp/v1/traces?token=abcdefgh"
    full = TelemetrySettings(otlp_endpoint="https://gw.example/v1/traces/?token=abcdefgh")
    assert telemetry.endpoint_of(full, {}) == "https://gw.example/v1/traces?token=abcdefgh"


def test_traces_off_imports_no_opentelemetry(tmp_path: Path) -> None:
    """With no endpoint, a served request leaves opentelemetry unimported (the hooks are one
    `TRACER is None` check)."""
    code = f"""
import asyncio, sys
from pathlib import Path
from tests.inproc import sidecar_in_process
async def main():
    async with sidecar_in_process(Path({str(tmp_path)!r})) as sc:
        r = await sc.client.post("/v1/chat/completions", headers=sc.auth,
            json={{"model": "auto", "messages": [{{"role": "user", "content": "hi"}}]}})
        assert r.status_code == 200, r.text
asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
assert not loaded, loaded
print("ok")
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]
