"""Request ids, the one log line per request, and what of an upstream's headers reaches the
client: in process against the simulated pool (whose providers send their own request ids and
rate-limit headers, embedding the caller's x-request-id when it came)."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.datastructures import MutableHeaders
from starlette.responses import Response

from arbiter import logs
from arbiter.request_log import finish_headers, request_id
from tests.inproc import sidecar_in_process
from tests.sdk_clients import sdks
from tests.waiting import until_async

CLAUDE = "sim-medium"
USER = [{"role": "user", "content": "Say hello."}]


@contextmanager
def captured(fmt: str, upstream_of: dict[str, str] | None = None) -> Iterator[io.StringIO]:
    """The root logger's output in `fmt` (the real handler and formatter of `arbiter serve`)."""
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    handler = logs.configure("info", fmt, upstream_of)
    handler.setStream(out)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def request_lines(text: str) -> list[dict[str, Any]]:
    lines = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"] == "request"]


def test_request_ids_offered_are_kept_when_safe_else_replaced() -> None:
    assert request_id("abc-123_x.y:z") == "abc-123_x.y:z"
    for bad in (None, "", "a" * 129, "has space", "new\nline", "ünï", "semi;colon"):
        fresh = request_id(bad)
        assert fresh.startswith("req_") and len(fresh) == 28 and fresh != bad


def test_fresh_request_ids_are_unique_and_need_no_syscall_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    def no_urandom(_n: int) -> bytes:
        raise AssertionError("os.urandom per request releases the GIL (a p99 stall)")

    monkeypatch.setattr(os, "urandom", no_urandom)
    ids = {request_id(None) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(i.startswith("req_") and len(i) == 28 for i in ids)


def test_one_json_line_per_request_with_the_decision_and_ids_both_ways(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path, anthropic_models=(CLAUDE,)) as sc:
            upstreams = {m.name: m.upstream for m in sc.services.settings.models.values()}
            with captured("json", upstreams) as out:
                # OpenAI upstream: its id under the header the openai SDK reads, ours beside it
                r = await sc.client.post(
                    "/v1/chat/completions",
                    json={"model": "sim-small", "messages": USER},
                    headers={**sc.auth, "x-request-id": "client-42"},
                )
                assert r.status_code == 200
                assert r.headers["x-arbiter-request-id"] == "client-42"
                assert r.headers["x-request-id"] == "simreq_client-42"  # passed up, came back
                assert r.headers["x-ratelimit-remaining-requests"] == "9999"
                # Anthropic upstream: its `request-id` too (the anthropic SDK reads that one)
                r2 = await sc.client.post(
                    "/v1/messages",
                    json={"model": CLAUDE, "max_tokens": 50, "messages": USER},
                    headers={**sc.anthropic, "x-request-id": "bad id with spaces"},
                )
                assert r2.status_code == 200
                ours = r2.headers["x-arbiter-request-id"]
                assert ours.startswith("req_")
                assert r2.headers["request-id"] == f"simreq_{ours}"
                assert r2.headers["anthropic-ratelimit-requests-remaining"] == "9999"
                # a stream logs when it ends; a refused request logs too, with its own id
                r3 = await sc.client.post(
                    "/v1/chat/completions",
                    json={"model": "auto", "messages": USER, "stream": True},
                    headers=sc.auth,
                )
                assert r3.status_code == 200
                r4 = await sc.client.post(
                    "/v1/chat/completions", json={"model": "auto"}, headers=sc.auth
                )
                assert r4.status_code == 400
                assert r4.headers["x-request-id"] == r4.headers["x-arbiter-request-id"]
                # the stream's line comes from its background close: wait for it, not a guess
                await until_async(
                    lambda: len(request_lines(out.getvalue())) >= 4, "four request log lines"
                )
            lines = request_lines(out.getvalue())
            by_id = {line["request_id"]: line for line in lines}
            assert len(lines) == 4, lines
            first = by_id["client-42"]
            assert first["surface"] == "chat" and first["status"] == 200
            assert first["model"] == "sim-small" and first["outcome"] == "ok"
            assert first["tenant"] == "default" and first["attempts"] == 1
            assert first["cost_usd"] > 0 and first["latency_ms"] > 0
            assert first["cache"] is None and "pass-through" in first["reason"]
            assert first["upstream_request_id"] == "simreq_client-42"
            assert first["decision_id"] == r.headers["x-arbiter-decision-id"]
            second = by_id[ours]
            assert second["surface"] == "messages" and second["model"] == CLAUDE
            streamed = by_id[r3.headers["x-arbiter-request-id"]]
            assert (
                streamed["outcome"] == "ok" and streamed["model"] == r3.headers["x-arbiter-model"]
            )
            refused = by_id[r4.headers["x-arbiter-request-id"]]
            assert refused["status"] == 400 and refused["error"] == "missing_required_parameter"
            assert refused["model"] is None

    asyncio.run(main())


def test_the_openai_sdk_request_id_is_the_providers(tmp_path: Path) -> None:
    async def main() -> None:
        async with sidecar_in_process(tmp_path) as sc, sdks(sc) as (_, gpt):
            completion = await gpt.chat.completions.create(model="sim-small", messages=USER)  # type: ignore[arg-type]
            assert completion._request_id is not None
            assert completion._request_id.startswith("simreq_")

    asyncio.run(main())


def test_text_format_renders_extra_fields_and_names_the_upstream() -> None:
    with captured("text", {"sim-small": "sim"}) as out:
        logging.getLogger("arbiter.failover").warning(
            "upstream attempt failed",
            extra={"model": "sim-small", "error": "upstream_timeout", "detail": "timed out x"},
        )
    line = out.getvalue().strip()
    assert "upstream attempt failed" in line
    assert "model=sim-small" in line and "upstream=sim" in line
    assert 'detail="timed out x"' in line and "error=upstream_timeout" in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_traceback_stays_with_its_fields(fmt: str) -> None:
    with captured(fmt) as out:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("x").exception("crashed", extra={"model": "m"})
    text = out.getvalue()
    assert "ValueError: boom" in text
    if fmt == "json":
        line = orjson.loads(text.splitlines()[0])
        assert line["model"] == "m" and "ValueError" in line["exc"]
    else:
        assert text.splitlines()[0].endswith("model=m")


@pytest.mark.parametrize(
    "upstream",
    [
        [],  # no upstream id (the usual answer): the fast path
        [(b"x-request-id", b"req_up"), (b"request-id", b"req_up")],  # upstream.http's pair
        [(b"x-request-id", b"req_up")],
        [(b"request-id", b"req_up")],
        [(b"x-arbiter-request-id", b"stale")],  # ours, replaced, not doubled
        [(b"x-arbiter-request-id", b"stale"), (b"x-request-id", b"req_up")],
        [(b"request-id", b"req_up"), (b"x-request-id", b"a"), (b"x-request-id", b"b")],
        [(b"x-request-id", b"a"), (b"x-request-id", b"b")],
    ],
)
def test_the_answers_id_headers_keep_an_upstreams_id(upstream: list[tuple[bytes, bytes]]) -> None:
    """finish_headers' three appends (no id among the answer's headers) give what the
    MutableHeaders rules give; an upstream's id is never covered by ours."""
    response = Response(b"{}", media_type="application/json")
    response.raw_headers += upstream
    expected = MutableHeaders(raw=list(response.raw_headers))
    expected["x-arbiter-request-id"] = "req_ours"
    if "x-request-id" not in expected:
        expected["x-request-id"] = "req_ours"
    if "request-id" not in expected:
        expected["request-id"] = expected["x-request-id"]
    finish_headers(response, "req_ours")
    assert response.raw_headers == expected.raw  # the same lines, in the same order
    assert len(response.raw_headers) == len(expected.raw)
    if (b"x-request-id", b"req_up") in upstream:
        assert (b"x-request-id", b"req_up") in response.raw_headers


def test_an_upstreams_id_pair_is_finished_without_mutable_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The usual answer of a real provider carries its id (upstream.http forwards it under
    both names): appended in one pass over the raw lines, not MutableHeaders' scans (one
    lookup, one assignment and two membership scans of every line, per request)."""

    def refuse(*_args: object) -> None:
        raise AssertionError("MutableHeaders used")

    response = Response(b"{}", media_type="application/json")
    response.raw_headers += [(b"x-request-id", b"req_up"), (b"request-id", b"req_up")]
    monkeypatch.setattr(MutableHeaders, "__setitem__", refuse)
    monkeypatch.setattr(MutableHeaders, "__contains__", refuse)
    finish_headers(response, "req_ours")
    assert response.raw_headers[-1] == (b"x-arbiter-request-id", b"req_ours")
    assert [v for n, v in response.raw_headers if n in (b"x-request-id", b"request-id")] == [
        b"req_up",
        b"req_up",
    ]
