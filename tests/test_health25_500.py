"""health25: a handler's unexpected exception (a bug; injected here by replacing the body decoder
inside an in-process sidecar, no product backdoor) is a 500 in the surface's error shape whose
request span ends with ERROR and whose request line is written at ERROR, both with the request
id, the traceback's line too. Before, it reached Starlette's error middleware: the span never
ended, no request line was written, and the exception went on out of the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from arbiter import server, telemetry
from arbiter.logs import RequestIdOf
from tests.inproc import sidecar_in_process
from tests.waiting import until_async

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use(provider.get_tracer("health25"))
    try:
        yield exporter
    finally:
        telemetry.use(None)
        provider.shutdown()


async def _boom(*args: Any, **kw: Any) -> Any:
    raise RuntimeError("injected fault")


def test_an_unexpected_exception_is_a_500_that_ends_its_span_and_logs_its_line(
    tmp_path: Path,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.addFilter(RequestIdOf())  # as logs.configure's handler has it
    caplog.set_level(logging.INFO, logger="arbiter")

    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc:
            monkeypatch.setattr(server, "decode", _boom)
            chat = await sc.client.post(
                "/v1/chat/completions", json={"model": "auto", "messages": USER}, headers=sc.auth
            )
            claude = await sc.client.post(
                "/v1/messages",
                json={"model": "auto", "max_tokens": 5, "messages": USER},
                headers=sc.anthropic,
            )
            for r in (chat, claude):
                assert r.status_code == 500, r.text
                assert r.headers["x-arbiter-request-id"]
            assert chat.json()["error"]["type"] == "server_error"  # OpenAI's shape
            assert chat.json()["error"]["code"] == "internal_error"
            assert claude.json()["type"] == "error"  # Anthropic's shape
            assert claude.json()["error"]["type"] == "api_error"
            assert "injected" not in chat.text + claude.text  # the bug's text stays in the log
            ids = [r.headers["x-arbiter-request-id"] for r in (chat, claude)]

            def ended() -> bool:
                got = {s.attributes.get("arbiter.request_id") for s in spans.get_finished_spans()}
                return set(ids) <= got

            await until_async(ended, "both request spans ended")
            await asyncio.sleep(0)

        for rid, path in zip(ids, ("/v1/chat/completions", "/v1/messages"), strict=True):
            (span,) = [
                s for s in spans.get_finished_spans()
                if s.attributes.get("arbiter.request_id") == rid
            ]  # fmt: skip
            assert span.name == f"POST {path}"
            assert span.status.status_code is StatusCode.ERROR
            assert span.attributes["http.response.status_code"] == 500
            assert span.attributes["error.type"] == "internal_error"
            lines = [r for r in caplog.records if getattr(r, "request_id", None) == rid]
            (line,) = [r for r in lines if r.getMessage() == "request"]
            assert line.levelno == logging.ERROR
            assert line.status == 500  # type: ignore[attr-defined]
            assert line.error == "internal_error"  # type: ignore[attr-defined]
            (trace,) = [r for r in lines if r.exc_info is not None]
            assert trace.levelno == logging.ERROR
            assert "injected fault" in str(trace.exc_info[1])  # type: ignore[index]

    asyncio.run(main())
