"""upstream/error_answer.py: which non-2xx answers came whole (an error status and the provider's
own error object: the attempt costs nothing, budget.may_be_billed), read with orjson only; the
end-to-end books are in tests/test_failed_attempt_cost.py."""

from __future__ import annotations

import httpx
import orjson
import pytest

from arbiter import budget
from arbiter.errors import UpstreamUnavailable
from arbiter.upstream.error_answer import cut_error_answer, whole_error_answer

OPENAI = orjson.dumps({"error": {"message": "busy", "type": "server_error", "code": None}})
ANTHROPIC = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
VLLM = orjson.dumps({"object": "error", "message": "x", "type": "InternalServerError"})


@pytest.mark.parametrize("raw", [OPENAI, ANTHROPIC, VLLM])
@pytest.mark.parametrize("status", [500, 502, 503, 529, 400, 404])
def test_a_providers_own_error_object_is_a_whole_answer(status: int, raw: bytes) -> None:
    assert whole_error_answer(status, raw)


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (504, OPENAI), (524, ANTHROPIC), (408, OPENAI),  # a timeout: the work may go on
        (200, OPENAI), (302, OPENAI),  # no error status
        (502, b"<html><body>Bad gateway</body></html>"),  # a proxy's page
        (500, b""), (500, OPENAI[: len(OPENAI) // 2]),  # nothing, or cut
        (500, b'["error"]'), (500, b'{"error": null}'), (500, b'{"detail": "x"}'),
        (500, b'{"error": ' * 20_000),  # deep and unfinished: refused in linear time
    ],
)  # fmt: skip
def test_anything_else_is_not(status: int, raw: bytes) -> None:
    assert not whole_error_answer(status, raw)


def test_an_answered_error_is_not_billed_and_any_other_may_be() -> None:
    err = UpstreamUnavailable("upstream m returned HTTP 500 (server error)")
    err.upstream_status = 500
    assert budget.may_be_billed(err)  # not known to be whole: charged what it may have cost
    err.answered = True
    assert not budget.may_be_billed(err)


def test_a_cut_error_answer_is_a_502_that_may_have_been_billed() -> None:
    err = cut_error_answer("m", 500, httpx.RemoteProtocolError("peer closed"))
    assert err.http_status == 502 and err.code == "upstream_error", err
    assert err.upstream_status == 500 and "malformed" in err.message, err.message
    assert budget.may_be_billed(err)
    # a 4xx status is a refusal before any work, its body whole or not (408: a timeout, may be)
    assert not budget.may_be_billed(cut_error_answer("m", 429, httpx.ReadError("x")))
    assert not budget.may_be_billed(cut_error_answer("m", 400, httpx.ReadError("x")))
    assert budget.may_be_billed(cut_error_answer("m", 408, httpx.ReadError("x")))
