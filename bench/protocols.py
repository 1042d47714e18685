"""CPU cost of translating between protocols (no network): what an OpenAI client routed to an
Anthropic upstream adds per request and per streamed event, in-process, one core.

Measures, each as the median of --repeat timed batches:
  request   OpenAI body -> canonical -> untranslatable() -> Anthropic body
  response  Anthropic Message -> canonical -> chat.completion
  event     one Anthropic SSE event -> canonical -> OpenAI chunk bytes (a 200-event answer)
Prints a table and ends with one JSON line. The issue's goal: added p50 <= 2 ms per request.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import anthropic_mock

from arbiter.protocols import anthropic as anth
from arbiter.protocols import openai as oai
from arbiter.protocols import untranslatable

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"q": "x"}'}}
REQUEST = {
    "model": "auto",
    "max_tokens": 400,
    "stream": True,
    "messages": [
        {"role": "system", "content": "You are a careful assistant. " * 20},
        {"role": "user", "content": "Summarise the following. " + "lorem ipsum " * 300},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "result " * 50},
        {"role": "user", "content": "Thanks. Now answer."},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
}


def per_call_us(fn: Callable[[], object], calls: int, repeat: int) -> float:
    batches = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        batches.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(batches)


def request() -> None:
    req = oai.decode_request(orjson.loads(orjson.dumps(REQUEST)))
    assert untranslatable(req, "anthropic") is None
    orjson.dumps(anth.encode_request(req, "claude-x", default_max_tokens=1024))


MESSAGE = orjson.dumps(anthropic_mock.message("claude-x", "tool"))


def response() -> None:
    resp = anth.decode_response(orjson.loads(MESSAGE))
    orjson.dumps(oai.encode_response(resp, "auto", created=0))


def stream_frames(n: int) -> list[bytes]:
    frames = anthropic_mock.stream_frames("claude-x", "text")
    delta = frames[3]  # one text_delta
    return [*frames[:3], *([delta] * (n - len(frames) + 1)), *frames[4:]]


def translate(frames: list[bytes]) -> None:
    decoder = anth.StreamDecoder()
    encoder = oai.StreamEncoder("auto", include_usage=True, created=0)
    for frame in frames:
        for event in decoder.feed(frame):
            encoder.encode(event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer calls per batch")
    args = parser.parse_args()
    calls = 200 if args.quick else 2000
    frames = stream_frames(200)
    req_us = per_call_us(request, calls, args.repeat)
    resp_us = per_call_us(response, calls, args.repeat)
    stream_us = per_call_us(lambda: translate(frames), max(calls // 20, 10), args.repeat)
    event_us = stream_us / len(frames)
    print(f"request body   {len(orjson.dumps(REQUEST)):>7} bytes  {req_us:8.1f} us")
    print(f"response                      {resp_us:8.1f} us")
    print(f"stream event   {len(frames):>7} events {event_us:8.2f} us each")
    print(
        orjson.dumps({
            "request_us": round(req_us, 1), "response_us": round(resp_us, 1),
            "event_us": round(event_us, 2), "request_bytes": len(orjson.dumps(REQUEST)),
        }).decode()
    )  # fmt: skip


if __name__ == "__main__":
    main()
