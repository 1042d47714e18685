"""The Anthropic provider against a real local HTTP server (tests/anthropic_mock.py) in every
fault mode: errors land in the same ArbiterError classes failover acts on for OpenAI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import orjson
import pytest

from arbiter import errors as e
from arbiter.canonical import BlockStart, MessageDelta, TextDelta, ToolArgsDelta
from arbiter.config import FailoverSettings, ModelSettings, UpstreamSettings
from arbiter.failover import is_retryable as retryable
from arbiter.protocols import anthropic as codec
from arbiter.types import Usage
from arbiter.upstream.anthropic import AnthropicUpstream, http_error, messages_url
from tests import anthropic_mock
from tests.anthropic_mock import AnthropicMock

T = TypeVar("T")
FAILOVER = FailoverSettings(connect_timeout_s=2.0, first_byte_timeout_s=5.0, total_timeout_s=10.0)
BODY = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
CACHED_USAGE = Usage(
    prompt_tokens=21 + 100 + 50, completion_tokens=9, cache_read_tokens=100, cache_write_tokens=50
)


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with anthropic_mock.running() as m:
        yield m


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 20))


def model(upstream_model: str) -> ModelSettings:
    return ModelSettings("claude-x", "anth", 3.0, 15.0, upstream_model=upstream_model)


def provider(mock: AnthropicMock) -> AnthropicUpstream:
    return AnthropicUpstream(
        UpstreamSettings("anth", mock.base_url, api_key="sk-ant-test"), FAILOVER
    )


async def _complete(mock: AnthropicMock, name: str) -> Any:
    up = provider(mock)
    try:
        return await up.complete(dict(BODY), model(name))
    finally:
        await up.aclose()


async def _stream(mock: AnthropicMock, name: str) -> tuple[list[bytes], bool, Usage | None]:
    up = provider(mock)
    try:
        stream = await up.open_stream(dict(BODY), model(name))
        try:
            frames = [f async for f in stream.events()]
        finally:
            await stream.aclose()
        return frames, stream.done, stream.usage
    finally:
        await up.aclose()


async def _broken_after_content(
    up: AnthropicUpstream,
    name: str,
    error: type[e.UpstreamError],
    match: str | None = None,
    deadline: float | None = None,
) -> list[bytes]:
    """Open a stream (so its first content came), read it until it raises `error`; the frames
    it gave before."""
    got: list[bytes] = []
    try:
        stream = await up.open_stream(dict(BODY), model(name), deadline=deadline)
        with pytest.raises(error, match=match):
            async for f in stream.events():
                got.append(f)
        assert not stream.done
        await stream.aclose()
    finally:
        await up.aclose()
    return got


def test_messages_url_accepts_a_base_with_or_without_v1() -> None:
    assert messages_url("https://api.anthropic.com") == "https://api.anthropic.com/v1/messages"
    assert messages_url("http://h:1/v1/") == "http://h:1/v1/messages"


def test_complete_sends_anthropic_headers_and_reads_usage_with_cache_tokens(
    mock: AnthropicMock,
) -> None:
    result = run(_complete(mock, "text"))
    headers, body = mock.requests[-1]
    assert headers["x-api-key"] == "sk-ant-test"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert body["model"] == "text" and "stream" not in body
    assert result.content == anthropic_mock.TEXT
    assert result.finish_reason == "stop"
    assert result.usage == CACHED_USAGE
    assert orjson.loads(result.raw) == result.body and result.body["type"] == "message"


def test_complete_tool_use_maps_to_tool_calls(mock: AnthropicMock) -> None:
    result = run(_complete(mock, "tool"))
    assert result.finish_reason == "tool_calls"
    canonical = codec.decode_response(result.body)
    assert orjson.loads(canonical.parts[1].arguments) == anthropic_mock.TOOL_INPUT  # type: ignore[union-attr]


def test_429_is_rate_limited_with_retry_after(mock: AnthropicMock) -> None:
    with pytest.raises(e.UpstreamRateLimited) as info:
        run(_complete(mock, "rate-limited"))
    assert info.value.retry_after_s == 7.0
    assert retryable(info.value)


@pytest.mark.parametrize("stream", [False, True])
def test_529_overloaded_is_unavailable_and_retryable(mock: AnthropicMock, stream: bool) -> None:
    with pytest.raises(e.UpstreamUnavailable) as info:
        run(_stream(mock, "overloaded") if stream else _complete(mock, "overloaded"))
    assert "overloaded_error" in info.value.message
    assert retryable(info.value)


def test_400_is_rejected_with_the_upstream_status_and_not_retried(mock: AnthropicMock) -> None:
    with pytest.raises(e.UpstreamRejected) as info:
        run(_complete(mock, "bad-request"))
    assert info.value.http_status == 400 and not retryable(info.value)


@pytest.mark.parametrize("name", ["text", "tool"])
def test_stream_yields_whole_frames_and_is_done_at_message_stop(
    mock: AnthropicMock, name: str
) -> None:
    frames, done, usage = run(_stream(mock, name))
    assert done
    assert frames == anthropic_mock.stream_frames(name, "tool" if name == "tool" else "text")
    assert usage == CACHED_USAGE
    assert mock.requests[-1][1]["stream"] is True
    decoder = codec.StreamDecoder()
    events = [ev for f in frames for ev in decoder.feed(f)]
    assert decoder.done
    assert isinstance(events[-2], MessageDelta) and events[-2].usage.cache_read_input_tokens == 100
    if name == "tool":
        assert BlockStart(1, "tool_use", "toolu_01", "get_weather") in events
        args = "".join(ev.partial_json for ev in events if isinstance(ev, ToolArgsDelta))
        assert orjson.loads(args) == anthropic_mock.TOOL_INPUT
    else:
        text = "".join(ev.text for ev in events if isinstance(ev, TextDelta))
        assert text == anthropic_mock.TEXT


def test_reset_mid_stream_raises_after_the_first_content(mock: AnthropicMock) -> None:
    # a 502 "malformed answer" (the upstream answered; its answer broke off), not the 503
    # "connection failed" it was (money20): the message names it, UpstreamUnavailable's would not
    got = run(
        _broken_after_content(
            provider(mock),
            "reset",
            e.UpstreamError,
            match=r"malformed answer from upstream \(the stream broke off\)",
        )
    )
    assert any(b"text_delta" in f for f in got)


@pytest.mark.parametrize(
    ("name", "error"),
    [("malformed", e.UpstreamError), ("overloaded-event", e.UpstreamUnavailable)],
)
def test_bad_events_mid_stream_raise(
    mock: AnthropicMock, name: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        run(_stream(mock, name))


def test_stream_without_message_stop_is_not_done(mock: AnthropicMock) -> None:
    frames, done, _ = run(_stream(mock, "no-stop"))
    assert frames and not done


def test_error_event_before_content_fails_at_open(mock: AnthropicMock) -> None:
    mock.replay_body = anthropic_mock.stream_frames("m", "text")[0] + (
        b'event: error\ndata: {"type":"error",'
        b'"error":{"type":"rate_limit_error","message":"x"}}\n\n'
    )

    async def go() -> None:
        up = provider(mock)
        try:
            await up.open_stream(dict(BODY), model("replay"))
        finally:
            await up.aclose()

    with pytest.raises(e.UpstreamRateLimited):
        run(go())


def test_crlf_framing_and_comments_are_read(mock: AnthropicMock) -> None:
    frames = anthropic_mock.stream_frames("m", "text")
    mock.replay_body = b": a comment\r\n\r\n" + b"".join(frames).replace(b"\n", b"\r\n")
    got, done, _ = run(_stream(mock, "replay"))
    assert done and got == frames


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (429, "rate_limit_error", e.UpstreamRateLimited),
        (529, "overloaded_error", e.UpstreamUnavailable),
        (500, "api_error", e.UpstreamUnavailable),
        (504, "timeout_error", e.UpstreamTimeout),
        (401, "authentication_error", e.UpstreamUnavailable),  # the operator's key: try another
        (413, "request_too_large", e.UpstreamRejected),
        (200, "rate_limit_error", e.UpstreamRateLimited),  # the body's type decides too
    ],
)
def test_http_error_classification(status: int, kind: str, error: type[e.UpstreamError]) -> None:
    raw = orjson.dumps({"type": "error", "error": {"type": kind, "message": "m"}})
    err = http_error("claude-x", status, raw, httpx.Headers({"retry-after-ms": "1500"}))
    assert type(err) is error and kind in err.message
    if error is not e.UpstreamRejected:
        assert err.retry_after_s == 1.5


def limited(mock: AnthropicMock, event: int, response: int) -> AnthropicUpstream:
    settings = UpstreamSettings(
        "anth", mock.base_url, api_key="k", max_event_bytes=event, max_response_bytes=response
    )
    return AnthropicUpstream(settings, FAILOVER)


async def _stream_with(
    up: AnthropicUpstream, name: str, deadline: float | None = None
) -> list[bytes]:
    """Open and read a whole stream; the frames read before an error are lost with it."""
    try:
        stream = await up.open_stream(dict(BODY), model(name), deadline=deadline)
        try:
            return [f async for f in stream.events()]
        finally:
            await stream.aclose()
    finally:
        await up.aclose()


def test_providers_and_streams_name_their_protocol(mock: AnthropicMock) -> None:
    async def go() -> tuple[str, str]:
        up = provider(mock)
        try:
            stream = await up.open_stream(dict(BODY), model("text"))
            await stream.aclose()
            return up.protocol, stream.protocol
        finally:
            await up.aclose()

    assert run(go()) == ("anthropic", "anthropic")
    assert run(_complete(mock, "text")).protocol == "anthropic"


def test_the_request_deadline_ends_a_stream_that_stalls_after_its_first_content(
    mock: AnthropicMock,
) -> None:
    # total timeout 10 s, first-byte 5 s: only the request's deadline can end this within 20 s
    got = run(
        _broken_after_content(
            provider(mock), "stall", e.UpstreamTimeout, deadline=time.monotonic() + 0.5
        )
    )
    assert any(b"text_delta" in f for f in got)


def _ping(pad: int) -> bytes:
    return b'event: ping\ndata: {"type":"ping","pad":"' + b"x" * pad + b'"}\n\n'


def test_an_event_over_max_event_bytes_before_content_fails_over(mock: AnthropicMock) -> None:
    frames = anthropic_mock.stream_frames("m", "text")
    mock.replay_body = frames[0] + _ping(2000) + b"".join(frames[1:])
    with pytest.raises(e.UpstreamError) as info:
        run(_stream_with(limited(mock, 1024, 1 << 20), "replay"))
    assert "longer than 1024 bytes" in info.value.message and retryable(info.value)


def test_an_event_over_max_event_bytes_after_content_breaks_the_stream(
    mock: AnthropicMock,
) -> None:
    frames = anthropic_mock.stream_frames("m", "text")
    long_delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"' + b"y" * 3000 + b'"}}\n\n'
    )
    mock.replay_pieces = [b"".join(frames[:4]), long_delta, b"".join(frames[4:])]
    up = limited(mock, 1024, 1 << 20)
    got = run(_broken_after_content(up, "replay-pieces", e.UpstreamError, "longer than 1024"))
    assert any(b"text_delta" in f for f in got)


def test_a_frame_of_short_lines_is_capped_too(mock: AnthropicMock) -> None:
    frames = anthropic_mock.stream_frames("m", "text")
    # 2 KB of field lines, none > 1 KiB (`id:` lines: comment lines are no part of a frame, they
    # are dropped and bounded apart, upstream/sse_idle.py)
    fields = b"".join(b"id: " + b"c" * 500 + b"\n" for _ in range(4))
    mock.replay_body = frames[0] + fields + frames[1] + b"".join(frames[2:])
    with pytest.raises(e.UpstreamError, match="longer than 1024 bytes"):
        run(_stream_with(limited(mock, 1024, 1 << 20), "replay"))


def test_a_stream_over_max_response_bytes_fails_before_and_after_content(
    mock: AnthropicMock,
) -> None:
    frames = anthropic_mock.stream_frames("m", "text")
    before = frames[0] + _ping(900) + _ping(900) + b"".join(frames[1:])
    mock.replay_body = before
    with pytest.raises(e.UpstreamError, match="larger than the response limit") as info:
        run(_stream_with(limited(mock, 1024, 2048), "replay"))
    assert retryable(info.value)

    # after the first delta: many small events, none too long, too many bytes in all
    mock.replay_pieces = [b"".join(frames[:5]), *[frames[4] * 10] * 4, b"".join(frames[5:])]
    assert len(mock.replay_pieces[0]) < 4096 < len(b"".join(mock.replay_pieces))

    up = limited(mock, 1024, 4096)
    got = run(_broken_after_content(up, "replay-pieces", e.UpstreamError, "response limit"))
    assert any(b"text_delta" in f for f in got)


def test_a_non_streaming_answer_over_max_response_bytes_fails(mock: AnthropicMock) -> None:
    big = anthropic_mock.message("m", "text")
    big["content"] = [{"type": "text", "text": "z" * 5000}]
    mock.replay_body = orjson.dumps(big)

    async def go() -> Any:
        up = limited(mock, 1024, 4096)
        try:
            return await up.complete(dict(BODY), model("replay"))
        finally:
            await up.aclose()

    with pytest.raises(e.UpstreamError, match="larger than 4096 bytes") as info:
        run(go())
    assert retryable(info.value)


SECRETS = ("sk-ant", "wxyz", "10.0.0.7", "invalid x-api-key")


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_error_body_reaches_the_log_not_the_client(
    mock: AnthropicMock, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"), pytest.raises(e.UpstreamUnavailable) as info:
        run(_stream(mock, "leaky") if stream else _complete(mock, "leaky"))
    assert info.value.message.startswith("upstream claude-x returned HTTP 401 (")
    assert "authentication_error" in info.value.message
    assert not any(s in info.value.message for s in SECRETS)
    assert anthropic_mock.LEAK in caplog.text


def test_an_error_event_mid_stream_reaches_the_log_not_the_client(
    mock: AnthropicMock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"), pytest.raises(e.UpstreamError) as info:
        run(_stream(mock, "leaky-event"))
    assert "api_error" in info.value.message and retryable(info.value)
    assert not any(s in info.value.message for s in SECRETS)
    assert anthropic_mock.LEAK in caplog.text


def test_an_error_event_before_content_keeps_its_class_but_not_its_text(
    mock: AnthropicMock,
) -> None:
    leak = anthropic_mock.LEAK.encode()
    mock.replay_body = anthropic_mock.stream_frames("m", "text")[0] + (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"' + leak + b'"}}\n\n'
    )
    with pytest.raises(e.UpstreamUnavailable) as info:
        run(_stream(mock, "replay"))
    assert "overloaded_error" in info.value.message
    assert not any(s in info.value.message for s in SECRETS)


def test_an_error_type_that_is_not_an_identifier_is_not_echoed() -> None:
    raw = orjson.dumps({"type": "error", "error": {"type": "sk-ant-api03 abcd", "message": "m"}})
    err = http_error("claude-x", 400, raw)
    assert "sk-ant" not in err.message and err.message.startswith("upstream claude-x returned")


def test_a_connection_failure_names_no_host() -> None:
    async def go() -> None:
        up = AnthropicUpstream(UpstreamSettings("anth", "http://127.0.0.1:1"), FAILOVER)
        try:
            await up.complete(dict(BODY), model("text"))
        finally:
            await up.aclose()

    with pytest.raises(e.UpstreamUnavailable) as info:
        run(go())
    assert "127.0.0.1" not in info.value.message and "connection failed" in info.value.message


def test_open_stream_takes_the_deadline_the_pipeline_passes(mock: AnthropicMock) -> None:
    # Pipeline.stream calls open_stream(body, model, deadline=...) for every provider
    async def go() -> bool:
        up = provider(mock)
        try:
            deadline = time.monotonic() + 10
            stream = await up.open_stream(dict(BODY), model("text"), deadline=deadline)
            try:
                assert [f async for f in stream.events()]
            finally:
                await stream.aclose()
            return stream.done
        finally:
            await up.aclose()

    assert run(go())
