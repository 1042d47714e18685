"""Log output: readable text by default, one JSON object per line with `server.log_format =
"json"`. Both render a record's `extra=` fields (the stdlib's formatters drop them), so a line
like `upstream attempt failed` carries its model, upstream and error. A record that names a
`model` but no `upstream` gets the model's upstream from the config (UpstreamOf), so every
warning about a model says where it was sent; one logged while serving a request gets its
`request_id` (RequestIdOf).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import orjson

from arbiter import request_log, stalls
from arbiter.log_secrets import masked

# the attributes every LogRecord has: anything else on a record came from `extra=`
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's terminal copy of its message: ANSI codes, its %d unfilled
}


_QUOTED = frozenset(' "=\n\r\t\\')  # a value holding one of these is written as a JSON string


def visible(text: str) -> str:
    """`text` with every character `str.isprintable` refuses (line ends of any kind, ESC and the
    other controls, bidi overrides, zero-width marks) as a JSON escape: a log line quotes
    upstream and client text, which must neither end the line nor reach a terminal as code."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float:
        return f"{value:.6g}"
    text = value if kind is str else orjson.dumps(value, default=str).decode()
    if not text or not _QUOTED.isdisjoint(text) or not text.isprintable():
        return visible(orjson.dumps(text).decode())  # quoted, escaped: one line, unambiguous
    return text


def _continued(text: str) -> str:
    """A traceback under its record's line: each of its lines indented and visible, so none
    reads as a record of its own (an exception's message may quote client or upstream text
    with line ends: a pipeline that starts a record at each line not indented saw a forged
    one) nor reaches a terminal as code."""
    return "".join("\n    " + visible(part) for part in text.splitlines())


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` (values with spaces quoted as JSON), then a
    traceback if any, indented. The local time's seconds are formatted once per second: this
    runs for every request."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        parts = [
            f"{self._stamp},{int(record.msecs):03d} {record.levelname} {record.name}: "
            f"{visible(record.getMessage())}"
        ]
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                parts.append(f"{key}={_text_value(value)}")
        line = " ".join(parts)
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            line += _continued(record.exc_text)
        if record.stack_info:
            line += _continued(self.formatStack(record.stack_info))
        return masked(line)  # an upstream may quote the key it was sent (log_secrets.py)


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the extra fields, exc."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # formatted once per second: this runs for every request
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        out: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STANDARD:
                out.setdefault(k, v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        line = orjson.dumps(out, default=str).decode()
        line = masked(line)  # an upstream may quote the key it was sent (log_secrets.py)
        if line.isascii() and "\x7f" not in line:  # O(1) and a memchr: orjson escaped the rest
            return line
        # orjson leaves DEL, NEL, U+2028/9 and the like raw (valid JSON, yet line ends to some)
        return visible(line)


# model -> upstream of every model the registry knows now (a listing's, a reloaded config's);
# services.py replaces it whenever the pool changes, and it wins over the start-up mapping
_DISCOVERED: dict[str, str] = {}


def note_discovered(upstream_of: Mapping[str, str]) -> None:
    _DISCOVERED.clear()
    _DISCOVERED.update(upstream_of)


class UpstreamOf(logging.Filter):
    """Adds `upstream` to a record that names a `model` (or `upstream_model`) but no upstream."""

    def __init__(self, upstream_of: Mapping[str, str]) -> None:
        super().__init__()
        self._of = dict(upstream_of)

    def filter(self, record: logging.LogRecord) -> bool:
        d = record.__dict__
        if "upstream" not in d:
            model = d.get("model", d.get("upstream_model"))
            if isinstance(model, str):
                upstream = _DISCOVERED.get(model) or self._of.get(model)
                if upstream is not None:
                    d["upstream"] = upstream
        return True


class RequestIdOf(logging.Filter):
    """Adds `request_id` to a record logged while serving a request (request_log.CURRENT) that
    names none: a warning about one of its upstream attempts, its grading, then carries the id
    its request line and the client's `x-arbiter-request-id` carry."""

    def filter(self, record: logging.LogRecord) -> bool:
        d = record.__dict__
        if "request_id" not in d:
            ctx = request_log.CURRENT.get()
            if ctx is not None:
                d["request_id"] = ctx.id
        return True


class MeasuredStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler whose writes are timed (stalls.LOG, on /metrics): a line written on the
    event loop's thread to a pipe nobody drains blocks the loop."""

    def emit(self, record: logging.LogRecord) -> None:
        with stalls.LOG.measure():
            super().emit(record)


def configure(
    level: str, fmt: str = "text", upstream_of: Mapping[str, str] | None = None
) -> logging.Handler:
    """The root logger writes to stderr in `fmt` at `level` (replacing earlier handlers)."""
    handler = MeasuredStreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdOf())
    if upstream_of:
        handler.addFilter(UpstreamOf(upstream_of))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
