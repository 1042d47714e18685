"""Tests sent with a chat request, for the sandbox to run the answer against (both surfaces).

Two carriers, the header winning when both are present:

- ``x-arbiter-tests: base64:<base64 of the UTF-8 test source>`` (or a one-line source as is);
- the body's top-level ``"arbiter": {"tests": "<source>"}`` (the OpenAI SDKs send it with
  ``extra_body``; the Anthropic SDK with ``extra_body`` too). The whole ``arbiter`` object is
  removed from the body here, so an upstream never sees a field it would refuse.

Test source is Python: ``assert`` statements and/or ``test_*`` functions, run after the answer's
code in the same namespace (arbiter.sandbox.harness). Bad shapes are the caller's 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arbiter.errors import InvalidRequest
from arbiter.sandbox.extract import MAX_TESTS_CHARS, decode_tests_header
from arbiter.types import ChatRequest

__all__ = ["HEADER", "attach_request_tests", "request_tests"]

HEADER = "x-arbiter-tests"


def attach_request_tests(req: ChatRequest, headers: Mapping[str, str]) -> None:
    """Set ``req.tests`` and take the ``arbiter`` field out of everything sent upstream: the
    client's body and, for a surface that decoded it already (Anthropic's), the canonical form's
    extras (else a model of the other protocol would be ineligible for a field it never sees)."""
    tests = request_tests(headers, req.body)  # the header, or a body field still there
    if tests is not None:  # (the chat surfaces took the body field already: tests_from_field)
        req.tests = tests
    if req.canonical is not None:
        req.canonical.extras.pop("arbiter", None)


def request_tests(headers: Mapping[str, str], body: dict[str, Any]) -> str | None:
    """The request's tests (None when it sent none); pops ``arbiter`` from `body`."""
    extra = body.pop("arbiter", None)
    header = headers.get(HEADER)
    if header is not None:
        try:
            return decode_tests_header(header)
        except ValueError as err:
            raise InvalidRequest(str(err), param=HEADER) from None
    return tests_from_field(extra)


def tests_from_field(extra: Any) -> str | None:
    """The tests in the body's ``arbiter`` field (None when it has none)."""
    if extra is None:
        return None
    if not isinstance(extra, dict):
        raise InvalidRequest("'arbiter' must be an object.", param="arbiter")
    tests = extra.get("tests")
    if tests is None:
        return None
    if not isinstance(tests, str):
        raise InvalidRequest("'arbiter.tests' must be a string.", param="arbiter.tests")
    if len(tests) > MAX_TESTS_CHARS:
        raise InvalidRequest(
            f"'arbiter.tests' is over {MAX_TESTS_CHARS} characters.", param="arbiter.tests"
        )
    if "\x00" in tests:
        raise InvalidRequest("'arbiter.tests' contains a NUL character.", param="arbiter.tests")
    return tests
