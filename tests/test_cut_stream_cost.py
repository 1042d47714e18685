"""The charge of a stream we cut (cut_stream_cost.py): what was relayed, counted so as not to
undercount; what the upstream made between its last event and the close; never above the
call's worst case; and only for cuts of ours, not for an upstream that broke."""

from __future__ import annotations

import math

from arbiter.cut_stream_cost import cut_by_us, cut_output_tokens, fast_speed, tokens_of
from arbiter.errors import ClientDisconnected, UpstreamError, UpstreamTimeout
from arbiter.latency import Estimate
from arbiter.relay import DeadlineExceeded
from arbiter.stopping import ServerStopping
from arbiter.types import Usage, count_tokens


def test_only_a_cut_of_ours_is_charged_below_the_worst_case() -> None:
    assert cut_by_us(ClientDisconnected("gone"))
    assert cut_by_us(DeadlineExceeded("late"))
    assert cut_by_us(ServerStopping("stop"))
    # an upstream that broke or stalled may have generated the whole answer first
    assert not cut_by_us(UpstreamError("broke"))
    assert not cut_by_us(UpstreamTimeout("stalled"))
    assert not cut_by_us(None)


def test_relayed_text_counts_the_larger_of_o200k_and_four_characters_a_token() -> None:
    prose = ["understanding international communications requires patience " * 4]
    assert tokens_of(prose) == math.ceil(len(prose[0]) / 4) > count_tokens(prose)
    cjk = ["潮汐は月の引力によって一日に二回満ち引きする。" * 4]
    assert tokens_of(cjk) == count_tokens(cjk) > math.ceil(len(cjk[0]) / 4)


def test_the_gap_after_the_last_event_and_one_event_are_added_per_choice() -> None:
    # 40 relayed in 10 events: 4 a event; 0.5 s at 100 tokens/s = 50 more, per choice
    assert cut_output_tokens(40, None, 10, 1, 100.0, 0.5) == 40 + 50 + 4
    assert cut_output_tokens(40, None, 10, 3, 100.0, 0.5) == 40 + 3 * (50 + 4)
    # the upstream's own running count, when larger, is what was relayed
    assert cut_output_tokens(40, Usage(12, 60), 10, 1, 100.0, 0.0) == 60 + 6
    # a clock that ran backwards adds nothing; an empty stream still counts one token
    assert cut_output_tokens(0, None, 0, 1, 100.0, -1.0) == 1
    # events that had come and were not read: an average event's worth each
    assert cut_output_tokens(40, None, 10, 1, 100.0, 0.0, unread=5) == 40 + 5 * 4 + 4


def test_the_speed_is_the_fits_p99() -> None:
    fit = Estimate(ttft_mu=0.0, ttft_var=0.1, speed_mu=math.log(50.0), speed_var=0.09, calls=9)
    assert math.isclose(fast_speed(fit), 50.0 * math.exp(2.326 * 0.3), rel_tol=1e-9)


def test_the_relayed_pieces_are_counted_joined() -> None:
    """Counted piece by piece (4-character deltas), o200k split words the upstream counts whole:
    the charge was 1.5-1.9x the bill instead of 1.1-1.3x (bench/stream_cut_cost.py)."""
    from arbiter.cut_stream_cost import relayed_texts
    from arbiter.relay_codec import OpenAIPassThrough

    codec = OpenAIPassThrough("m", include_usage=False)
    text = "The history of tides begins with the moon and the sun pulling the seas. " * 3
    for i in range(0, len(text), 4):
        piece = text[i : i + 4].replace('"', "")
        codec.feed(b'{"choices":[{"index":0,"delta":{"content":"%s"}}]}' % piece.encode())
    assert tokens_of(relayed_texts(codec)) == tokens_of([text])


def test_events_received_and_not_read_are_counted_at_the_close() -> None:
    """A reader behind its upstream (a slow client holds the relay) leaves events in the
    connection's buffer: the close counts them, so the cut call pays for them too."""
    import asyncio

    import httpx

    from arbiter.config import UpstreamSettings
    from arbiter.upstream.openai import _OpenAIStream
    from arbiter.upstream.transport import PooledBody, _Conn

    class _Pool:
        def release(self, conn: _Conn) -> None:
            pass

    async def main() -> None:
        conn = _Conn()
        event = b'data: {"choices":[{"index":0,"delta":{"content":"tide"}}]}\n\n'
        for _ in range(5):
            conn.on_body(event)
        body = PooledBody(conn, _Pool(), None)  # type: ignore[arg-type]
        resp = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)
        limits = UpstreamSettings("sim", "http://127.0.0.1:9/v1")
        stream = _OpenAIStream("m", resp, float("inf"), limits)
        assert await stream._next_item() is not None  # one read, four left behind
        await stream.aclose()
        assert stream.unread_events == 4

    asyncio.run(main())


def test_a_legacy_completions_streams_text_is_counted_as_relayed() -> None:
    """A /v1/completions chunk carries `choices[].text`, no `delta`: its text was not kept, so
    a cut completions stream would count nothing relayed (only the gap's estimate)."""
    from arbiter.cut_stream_cost import relayed_texts
    from arbiter.relay_codec import OpenAIPassThrough

    codec = OpenAIPassThrough("m", include_usage=False)
    text = "Once upon a time the tide came in over the long grey sands of the bay. " * 3
    for i in range(0, len(text), 6):
        piece = text[i : i + 6]
        codec.feed(b'{"object":"text_completion","choices":[{"index":0,"text":"%s"}]}'
                   % piece.encode())  # fmt: skip
    assert tokens_of(relayed_texts(codec)) == tokens_of([text]) > 0
