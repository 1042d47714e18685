"""prov26: an upstream's error that reaches the client carries that upstream's rate-limit
headers (and its Retry-After), under the names the client's surface reads: OpenAI's
`x-ratelimit-*` to the openai SDK, Anthropic's `anthropic-ratelimit-*` to the anthropic SDK,
whichever protocol the answering model spoke. A real `arbiter serve` (probe22a's rig)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from arbiter.ratelimit_names import for_surface, parse_duration
from tests.probe22a_rig import Reply, Rig, default_reply, rig

_n = itertools.count()
_OA_LIMITS = {
    "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "1m30s", "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "12", "x-ratelimit-reset-tokens": "20ms",
}  # fmt: skip
_AN_LIMITS = {
    "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": "2031-01-01T00:00:30Z",
    "anthropic-ratelimit-tokens-limit": "8000", "anthropic-ratelimit-tokens-remaining": "7",
    "anthropic-ratelimit-input-tokens-limit": "4000",
}  # fmt: skip


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with rig(Path(tmp_path_factory.mktemp("prov26_headers"))) as made:
        yield made


def _limited(path: str, body: dict[str, Any]) -> Reply:
    """A 429 in the upstream's own protocol, with its rate-limit headers and a Retry-After."""
    if path.endswith("/messages"):
        error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
        return Reply(error, status=429, headers={**_AN_LIMITS, "retry-after": "7"})
    error2 = {"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}}
    return Reply(error2, status=429, headers={**_OA_LIMITS, "retry-after": "7"})


def _openai_error(r: Rig, model: str) -> httpx.Headers:
    m = r.script(f"h{next(_n)}", _limited)
    with pytest.raises(openai.RateLimitError) as refused:
        r.oa.chat.completions.create(model=model, messages=[{"role": "user", "content": m}])
    return refused.value.response.headers


def _anthropic_error(r: Rig, model: str) -> httpx.Headers:
    m = r.script(f"h{next(_n)}", _limited)
    with pytest.raises(anthropic.RateLimitError) as refused:
        r.an.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": m}])
    return refused.value.response.headers


def test_openai_client_reads_an_openai_models_limits_as_sent(r: Rig) -> None:
    """Before: the error answer carried Retry-After and no `x-ratelimit-*` (a 200 did)."""
    headers = _openai_error(r, "oa-1")
    assert {k: headers.get(k) for k in _OA_LIMITS} == _OA_LIMITS
    assert headers["retry-after"] == "7"


def test_anthropic_client_reads_an_anthropic_models_limits_as_sent(r: Rig) -> None:
    headers = _anthropic_error(r, "an-1")
    assert {k: headers.get(k) for k in _AN_LIMITS} == _AN_LIMITS
    assert headers["retry-after"] == "7"


def test_each_client_reads_the_other_protocols_limits_under_its_own_names(r: Rig) -> None:
    """An openai client answered (in error) by an Anthropic model reads `x-ratelimit-*`, its
    reset a duration; an anthropic client answered by an OpenAI model `anthropic-ratelimit-*`,
    the reset a time. Anthropic's input-token limit, which OpenAI lacks, under OpenAI's
    pattern (edge26); the upstream names renamed listed in `x-arbiter-renamed-headers`."""
    headers = _openai_error(r, "an-1")
    assert headers["x-ratelimit-limit-requests"] == "50"
    assert headers["x-ratelimit-remaining-tokens"] == "7"
    left = parse_duration(headers["x-ratelimit-reset-requests"])
    assert left is not None and left > 86400  # 2031, a duration from now
    assert headers["x-ratelimit-limit-input-tokens"] == "4000"
    assert not any(k.startswith("anthropic-ratelimit-") for k in headers)
    assert headers["x-arbiter-renamed-headers"].split(", ") == list(_AN_LIMITS)
    headers = _anthropic_error(r, "oa-1")
    assert headers["anthropic-ratelimit-requests-limit"] == "500"
    assert headers["anthropic-ratelimit-tokens-remaining"] == "12"
    reset = datetime.fromisoformat(headers["anthropic-ratelimit-requests-reset"])
    assert 60 <= (reset - datetime.now(UTC)).total_seconds() <= 95
    assert not any(k.startswith("x-ratelimit-") for k in headers)


def test_auto_with_every_model_limited_relays_the_last_ones(r: Rig) -> None:
    """All failovers spent: the answer is the last model's error, with its headers."""
    for headers in (_openai_error(r, "auto"), _anthropic_error(r, "auto")):
        assert headers["retry-after"] == "7"
        assert any(k.startswith(("x-ratelimit-", "anthropic-ratelimit-")) for k in headers)


def _answered(path: str, body: dict[str, Any]) -> Reply:
    """default_reply's answer (whole or streamed) with the upstream's own rate-limit headers."""
    reply = default_reply(path, body)
    reply.headers = dict(_AN_LIMITS if path.endswith("/messages") else _OA_LIMITS)
    return reply


@pytest.mark.parametrize("stream", [False, True])
def test_a_translated_answer_carries_the_limits_under_the_clients_names(
    r: Rig, stream: bool
) -> None:
    """The same renaming on a 200, whole and streamed: before, an openai client answered by
    Claude read `anthropic-ratelimit-*` (and the reverse), names its SDK and tooling never
    look for. Same protocol: as sent (the control)."""
    m = r.script(f"h{next(_n)}", _answered)
    messages: Any = [{"role": "user", "content": m}]
    raw = r.oa.chat.completions.with_raw_response.create(
        model="an-1", messages=messages, stream=stream
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "50"
    assert not any(k.startswith("anthropic-ratelimit-requests") for k in raw.headers)
    raw2 = r.an.messages.with_raw_response.create(
        model="oa-1", max_tokens=50, messages=messages, stream=stream
    )
    assert raw2.headers["anthropic-ratelimit-tokens-remaining"] == "12"
    assert not any(k.startswith("x-ratelimit-") for k in raw2.headers)
    raw3 = r.oa.chat.completions.with_raw_response.create(model="oa-1", messages=messages)
    assert {k: raw3.headers.get(k) for k in _OA_LIMITS} == _OA_LIMITS
    for one in (raw, raw2, raw3):
        answer = one.parse()
        if stream and hasattr(answer, "close"):
            answer.close()


def test_renaming_leaves_a_reset_it_cannot_read_as_it_came() -> None:
    """Unreadable resets keep their own name and value; the counts are renamed."""
    got = for_surface(
        {"x-ratelimit-reset-tokens": "soon", "x-ratelimit-limit-tokens": "9", "other": "x"},
        "anthropic", now=0.0,
    )  # fmt: skip
    renamed = "x-arbiter-renamed-headers"
    assert got == {"x-ratelimit-reset-tokens": "soon", "anthropic-ratelimit-tokens-limit": "9",
                   "other": "x", renamed: "x-ratelimit-limit-tokens"}  # fmt: skip
    got = for_surface({"x-ratelimit-reset-tokens": "1h2m3.5s"}, "anthropic", now=0.0)
    assert got == {"anthropic-ratelimit-tokens-reset": "1970-01-01T01:02:03Z",
                   renamed: "x-ratelimit-reset-tokens"}  # fmt: skip
    stamp = {"anthropic-ratelimit-tokens-reset": "1970-01-01T00:01:30.5Z"}
    assert for_surface(stamp, "openai", now=0.0)["x-ratelimit-reset-tokens"] == "1m30.5s"
    assert for_surface(stamp, "openai", now=1e9)["x-ratelimit-reset-tokens"] == "0ms"
    for bad in ("", "5", "1x", "..s", "1.2.3s", "9" * 70 + "s"):
        assert parse_duration(bad) is None
