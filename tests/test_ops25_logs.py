"""ops25: a real `arbiter serve` child's log as a log pipeline reads it, in JSON and in text.
Every line is one record (JSON: parses, one object); an upstream's error text with line ends
and a forged record in it stays inside its line; every line logged while a request is served
names its request id (a failed upstream attempt's warnings, a stream's, its grading's); a
client's 400 is logged at info, not as an error. And, on the formatters: a traceback's lines in
the text format are indented continuations (an exception quoting a forged record cannot start
one), and uvicorn's ANSI `color_message` copy is left out."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from arbiter import logs, request_log
from arbiter.budget import Budgets
from arbiter.config import BudgetSettings
from tests.ops25_rig import Upstream, served
from tests.scripted_upstream import serving

REQUEST_ID = re.compile(r"\brequest_id=(\S+)")
FORGED_LINE = "2026-12-07 10:00:00,000 INFO arbiter.request: request tenant=admin status=200"


def _workload(root: str) -> dict[str, str]:
    """A failed call (upstream 500s quoting FORGED), a 400, a stream cut by its upstream, a
    whole stream: each one's request id. Every answer is graded (the demo's judge samples all)
    and the judge's reply, "ok", has no score: a warning from the grading of each."""
    ids = {}
    r = httpx.post(
        f"{root}/v1/chat/completions",
        json={"model": "sim-small", "messages": [{"role": "user", "content": "FAIL"}]},
        timeout=30,
    )
    assert r.status_code == 503, r.text
    ids["failed"] = r.headers["x-arbiter-request-id"]
    r = httpx.post(f"{root}/v1/chat/completions", json={"model": "sim-small"}, timeout=30)
    assert r.status_code == 400, r.text
    ids["refused"] = r.headers["x-arbiter-request-id"]
    oa = openai.OpenAI(base_url=f"{root}/v1", api_key="x", max_retries=0)
    raw = oa.chat.completions.with_raw_response.create(
        model="sim-small", messages=[{"role": "user", "content": "CUT"}], stream=True
    )
    ids["cut"] = raw.headers["x-arbiter-request-id"]
    try:
        for _ in raw.parse():
            pass
    except openai.APIError:
        pass  # the cut reaches the client as an error event
    raw = oa.chat.completions.with_raw_response.create(
        model="sim-small", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    ids["streamed"] = raw.headers["x-arbiter-request-id"]
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices) == "ok"
    return ids


@pytest.fixture(scope="module", params=["json", "text"])
def logged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[str], dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp(f"ops25_logs_{request.param}")
    with serving(Upstream) as url, served(tmp, url, log_format=request.param) as s:
        ids = _workload(s.root)
    yield request.param, s.lines(), ids


def _records(fmt: str, lines: list[str]) -> list[dict[str, Any]]:
    """Each line as a record: JSON's object; text's level, logger and request_id."""
    out = []
    for line in lines:
        if fmt == "json":
            rec = orjson.loads(line)
            assert isinstance(rec, dict), line
        else:
            m = re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ([A-Z]+) ([\w.]+): ", line)
            assert m, line  # a line that is no record's start: a record split or forged
            rid = REQUEST_ID.search(line)
            rec = {"level": m[1].lower(), "logger": m[2], "line": line,
                   "request_id": rid[1] if rid else None}  # fmt: skip
        out.append(rec)
    return out


def test_every_line_is_one_record_and_no_upstream_text_forges_one(
    logged: tuple[str, list[str], dict[str, str]],
) -> None:
    fmt, lines, _ = logged
    records = _records(fmt, lines)
    assert not [r for r in records if "forged" in str(r.get("message", "")) and
                r.get("logger") not in ("arbiter.upstream.http",)]  # fmt: skip
    quoted = [r for r in records if r["logger"] == "arbiter.upstream.http"]
    assert quoted, lines  # the upstream's 500 was logged, its text quoted within the line
    assert all(r["level"] == "warning" for r in quoted)
    assert "Traceback" not in "\n".join(lines)


def test_a_requests_lines_name_its_request_id(
    logged: tuple[str, list[str], dict[str, str]],
) -> None:
    fmt, lines, ids = logged
    records = _records(fmt, lines)

    def loggers(which: str) -> set[str]:
        return {r["logger"] for r in records if r.get("request_id") == ids[which]}

    # base25: only each request's own line named it
    assert {"arbiter.request", "arbiter.failover", "arbiter.upstream.http"} <= loggers("failed")
    assert {"arbiter.request", "arbiter.learning"} <= loggers("streamed")  # its grading's line
    assert "arbiter.request" in loggers("cut") and "arbiter.request" in loggers("refused")
    # and no line about an upstream attempt or a grade without its request
    about_requests = [
        r for r in records
        if r["logger"] != "arbiter.request"
        and r["logger"].startswith(("arbiter.upstream", "arbiter.failover", "arbiter.learning"))
    ]  # fmt: skip
    assert about_requests
    assert all(r.get("request_id") in ids.values() for r in about_requests), about_requests


def test_a_clients_400_is_not_an_error(logged: tuple[str, list[str], dict[str, str]]) -> None:
    fmt, lines, ids = logged
    records = _records(fmt, lines)
    refused = [r for r in records if r.get("request_id") == ids["refused"]]
    assert refused and all(r["level"] == "info" for r in refused), refused
    assert not [r for r in records if r["level"] in ("error", "critical")], records


def _failed_record(uvicorns: bool = False) -> logging.LogRecord:
    try:
        raise ValueError(f"bad\n{FORGED_LINE}\n\x1b[2Jcleared")
    except ValueError:
        record = logging.LogRecord("arbiter.x", logging.ERROR, __file__, 1, "step failed", (),
                                   sys.exc_info())  # fmt: skip
    if uvicorns:
        record.color_message = "step \x1b[31mfailed\x1b[0m %d"  # as uvicorn's records carry
    return record


def test_a_tracebacks_lines_never_read_as_records_of_their_own() -> None:
    text = logs.TextFormatter().format(_failed_record())
    first, *rest = text.split("\n")
    assert first.endswith("ERROR arbiter.x: step failed"), first
    assert rest and "Traceback" in rest[0]
    # base25: the exception's own lines at column 0, the forged record one of them, ESC raw
    assert all(line.startswith("    ") for line in rest), rest
    assert all(line.isprintable() for line in rest)
    assert any(FORGED_LINE in line for line in rest)  # kept, as a continuation


def test_uvicorns_color_message_is_left_out() -> None:
    record = _failed_record(uvicorns=True)
    assert "color_message" not in logs.TextFormatter().format(record)
    assert "color_message" not in orjson.loads(logs.JSONFormatter().format(record))


def test_the_budgets_retry_loop_runs_outside_the_request_that_started_it() -> None:
    """The loop writes every queued settle while the store is down: its lines must not name
    the request whose settle happened to start it (base25: it ran in that request's context)."""
    b = Budgets(BudgetSettings(), None, lambda *a: None)  # type: ignore[arg-type]
    seen: list[object] = []

    async def loop() -> None:
        seen.append(request_log.CURRENT.get())

    b._retry_loop = loop  # type: ignore[method-assign]

    async def main() -> None:
        token = request_log.CURRENT.set(request_log.RequestLog("req_started_it", "chat"))
        try:
            b._start_retry()
        finally:
            request_log.CURRENT.reset(token)
        assert b._retry is not None
        await b._retry

    asyncio.run(main())
    assert seen == [None]
