"""Outside probe (tenth session): upstream text that breaks the operator's log lines.

An upstream's error body goes to the log as it came (the warning's message and its `error`
field): a proxy's HTML error page, or a hostile upstream, put raw line breaks and terminal
escapes there. The text format's message was written verbatim, so one warning became several
lines (a forged `INFO` line among them) and an ESC sequence reached the operator's terminal;
values were quoted only for a few characters (ESC, NEL, U+2028 and the bidi overrides went out
raw, in the JSON format too, where U+2028 and NEL are line ends to Python's `splitlines` and to
JavaScript's older readers). Each record is now one line of visible characters in both formats.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from arbiter import logs
from tests import anthropic_mock
from tests.adversarial.test_probe_upstream_sse import _with_mock
from tests.anthropic_mock import AnthropicMock
from tests.inproc import sidecar_in_process

FORGED = "2026-12-05 10:00:00,000 INFO arbiter.request: request tenant=admin status=200"
HOSTILE = (
    f"<html>\r\n<body>bad gateway\n{FORGED}\n\x1b[2J\x1b[31mred\x85nel\u2028ls\u2029ps"
    "\u202eevil\u200b\x7f\x9b31m</body></html>"
)


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _one_visible_line(line: str) -> None:
    assert len(line.splitlines()) == 1, line
    assert line.isprintable(), repr(line)


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_an_upstream_error_body_stays_one_visible_log_line(
    tmp_path: Path, mock: AnthropicMock, protocol: str
) -> None:
    mock.error_body = HOSTILE.encode()
    kept = _Kept()
    root = logging.getLogger("arbiter")
    level = root.level

    async def main() -> None:
        edit = _with_mock(mock, protocol, "raw-error")
        async with sidecar_in_process(tmp_path, edit_config=edit) as sc:
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "oa-mock", "messages": [{"role": "user", "content": "hi"}]},
                headers=sc.auth,
            )
            assert r.status_code == 400, r.text
            assert "red" not in r.text  # the client never reads the upstream's words

    root.addHandler(kept)
    root.setLevel(logging.DEBUG)
    try:
        asyncio.run(main())
    finally:
        root.removeHandler(kept)
        root.setLevel(level)
    quoting = [r for r in kept.records if "bad gateway" in r.getMessage()]
    assert quoting, [r.getMessage() for r in kept.records]
    for record in kept.records:
        _one_visible_line(logs.TextFormatter().format(record))
        line = logs.JSONFormatter().format(record)
        _one_visible_line(line)
        orjson.loads(line)
    # nothing is lost: the JSON line still holds the upstream's exact text
    assert orjson.loads(logs.JSONFormatter().format(quoting[0]))["error"] == HOSTILE


def test_text_values_and_messages_escape_only_what_is_invisible() -> None:
    record = logging.LogRecord("arbiter.x", logging.WARNING, "", 0, "m %s", ("a\nb",), None)
    record.__dict__.update({"tenant": "équipe", "model": "a\x1bb", "plain": "Grüße"})
    line = logs.TextFormatter().format(record)
    _one_visible_line(line)
    assert line.endswith(r'm a\nb tenant=équipe model="a\u001bb" plain=Grüße'), line
    record.__dict__.update({"tenant": "t", "plain": "p", "model": "a\x7fb"})  # all ASCII, DEL
    line = logs.JSONFormatter().format(record)
    _one_visible_line(line)
    assert orjson.loads(line)["model"] == "a\x7fb"
