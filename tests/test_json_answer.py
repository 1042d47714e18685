"""http_json.JsonAnswer's header lines are Starlette's Response's, in the same order, for the
headers a model answer carries (and for what it hands to Starlette's own code)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import MutableHeaders
from starlette.responses import Response

from arbiter.http_json import JSON, JsonAnswer

_ANSWER = {
    "x-arbiter-model": "mock-gpt",
    "X-Arbiter-Cost-USD": "0.000123",
    "x-arbiter-decision-id": "d-1",
    "x-request-id": "abc",
    "openai-processing-ms": "12",
}
_CASES: list[tuple[str, dict[str, Any]]] = [
    ("answer", {"headers": _ANSWER}),
    ("no headers", {}),
    ("empty headers", {"headers": {}}),
    ("a length given", {"headers": {**_ANSWER, "Content-Length": "2"}}),
    ("a type given", {"headers": {"Content-Type": "application/json; charset=utf-8"}}),
    ("204", {"headers": _ANSWER, "status_code": 204}),
    ("304", {"headers": _ANSWER, "status_code": 304}),
    ("101", {"headers": _ANSWER, "status_code": 101}),
    ("another type", {"headers": _ANSWER, "media_type": "text/plain"}),
    ("latin-1 value", {"headers": {"x-a": "caf\u00e9"}}),
    ("headers not a dict", {"headers": MutableHeaders({"x-a": "1"})}),
]


@pytest.mark.parametrize(("name", "how"), _CASES, ids=[c[0] for c in _CASES])
def test_json_answer_lines_are_starlettes(name: str, how: dict[str, Any]) -> None:
    how = {"media_type": JSON, **how}
    ours = JsonAnswer(b'{"a": 1}', **how)
    theirs = Response(b'{"a": 1}', **how)
    assert ours.raw_headers == theirs.raw_headers
    assert ours.body == theirs.body and ours.status_code == theirs.status_code


def test_not_latin_1_raises_as_starlette() -> None:
    with pytest.raises(UnicodeEncodeError):
        Response(b"{}", media_type=JSON, headers={"x-a": "\u2603"})
    with pytest.raises(UnicodeEncodeError):
        JsonAnswer(b"{}", headers={"x-a": "\u2603"})


def test_json_answer_builds_a_dicts_lines_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model answer's dict is not handed to Starlette's comprehension (else the parity above
    would hold with nothing cut)."""
    handed: list[Any] = []
    original = Response.init_headers

    def spy(self: Response, headers: Any = None) -> None:
        handed.append(headers)
        original(self, headers)

    monkeypatch.setattr(Response, "init_headers", spy)
    JsonAnswer(b"{}", headers=_ANSWER)
    assert handed == []
