"""A mock OpenAI upstream that bills like a real one, for bench/budget_race.py.

Every request is billed on arrival, before anything can fail: its prompt (every text part, tool
schemas and tool calls as JSON, a fixed token count per image, OpenAI's framing; counted with the
o200k tokenizer) and ALL `n` choices at the request's output limit (the model always talks to its
limit, the worst case a cap must hold against). Then it may fail the way a real upstream can after
billing: a reset after the body started, a 200 whose JSON is cut, a stream reset before content.
GET /_mock/billed returns what it billed; POST /_mock/reset zeroes it and sets the failure mode.

Usage: python bench/budget_mock.py --fd N --prices '{"model": [in, out], ...}'
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from arbiter._native import count_tokens
from arbiter.inherited_socket import adopt
from arbiter.price import cost_usd

IMAGE_TOKENS = 1105  # what OpenAI bills a high-detail 2048x768 image on 4o-class models
DEFAULT_LIMIT = 4096  # no limit in the request: the model's own maximum
FAILURES = ("reset_after_body", "bad_json", "cut_before_content")


def prompt_tokens(body: dict[str, Any]) -> int:
    texts: list[str] = []
    images = 0
    messages = body.get("messages") or []
    for msg in messages:
        for key, value in msg.items():
            if key == "content" and isinstance(value, list):
                for part in value:
                    if part.get("type") in ("image_url", "input_image"):
                        images += 1
                    elif part.get("type") == "text":
                        texts.append(part["text"])
            elif isinstance(value, str):
                texts.append(value)
            elif value is not None:
                texts.append(orjson.dumps(value).decode())
    for key in ("tools", "functions", "response_format"):
        if body.get(key) is not None:
            texts.append(orjson.dumps(body[key]).decode())
    return int(count_tokens(texts)) + IMAGE_TOKENS * images + 4 * len(messages) + 3


def output_limit(body: dict[str, Any]) -> int:
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    return limit if isinstance(limit, int) and limit > 0 else DEFAULT_LIMIT


class Mock:
    def __init__(self, prices: dict[str, list[float]]) -> None:
        self.prices = prices
        self.lock = threading.Lock()
        self.reset({})

    def reset(self, spec: dict[str, Any]) -> None:
        with self.lock:
            self.billed_usd = 0.0
            self.requests = 0
            self.failed = 0
            self.per_model: dict[str, float] = {}
            self.fail_every = int(spec.get("fail_every", 0))  # every k-th request fails
            self.counter = itertools.count()

    def bill(self, body: dict[str, Any]) -> tuple[int, int, str | None]:
        model = str(body.get("model"))
        pin, pout = self.prices[model]
        n = body.get("n") if isinstance(body.get("n"), int) else 1
        prompt, out = prompt_tokens(body), output_limit(body) * max(n, 1)
        cost = cost_usd(pin, pout, prompt, out)
        with self.lock:
            i = next(self.counter)
            self.requests += 1
            self.billed_usd += cost
            self.per_model[model] = self.per_model.get(model, 0.0) + cost
            failure = None
            if self.fail_every and i % self.fail_every == 0:
                failure = FAILURES[(i // self.fail_every) % len(FAILURES)]
                self.failed += 1
        return prompt, out, failure

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body_bytes = b""
        while True:
            msg = await receive()
            body_bytes += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"]
        if path == "/_mock/billed":
            with self.lock:
                data = {"billed_usd": self.billed_usd, "requests": self.requests,
                        "failed": self.failed, "per_model": self.per_model}  # fmt: skip
            return await _json(send, data)
        if path == "/_mock/reset":
            self.reset(orjson.loads(body_bytes or b"{}"))
            return await _json(send, {"ok": True})
        if path.endswith("/models"):
            return await _json(send, {"object": "list", "data": []})
        body = orjson.loads(body_bytes)
        prompt, out, failure = self.bill(body)
        n = body.get("n") if isinstance(body.get("n"), int) else 1
        per_choice = out // max(n, 1)
        judge = "[QUESTION]" in str(body.get("messages"))
        text = " hello" * max(per_choice - (6 if judge else 0), 0) + ("\nSCORE: 7" if judge else "")
        if body.get("stream"):
            return await self._stream(send, body, text, prompt, out, failure)
        if failure == "cut_before_content":
            failure = "reset_after_body"
        choices = [{"index": i, "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop"} for i in range(max(n, 1))]  # fmt: skip
        data = {"id": "mock", "object": "chat.completion", "model": body.get("model"),
                "choices": choices, "usage": {"prompt_tokens": prompt, "completion_tokens": out,
                                               "total_tokens": prompt + out}}  # fmt: skip
        raw = orjson.dumps(data)
        if failure == "bad_json":
            raw = raw[: len(raw) // 2]
        headers = [
            (b"content-type", b"application/json"),
            (
                b"content-length",
                str(len(raw) if failure != "reset_after_body" else len(raw) * 2).encode(),
            ),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if failure == "reset_after_body":  # half the body, then the connection dies
            await send({"type": "http.response.body", "body": raw, "more_body": True})
            raise ConnectionResetError("mock: reset after the body")
        await send({"type": "http.response.body", "body": raw})

    async def _stream(
        self, send: Any, body: dict[str, Any], text: str, prompt: int, out: int, failure: str | None
    ) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        def event(data: dict[str, Any]) -> bytes:
            return b"data: " + orjson.dumps(data) + b"\n\n"

        role = {"id": "m", "object": "chat.completion.chunk",
                "choices": [{"index": 0,
                             "delta": {"role": "assistant", "content": ""}}]}  # fmt: skip
        await send({"type": "http.response.body", "body": event(role), "more_body": True})
        if failure is not None:  # any failure on a stream: it dies before the first content
            raise ConnectionResetError("mock: stream reset before content")
        chunks = [text[i : i + 400] for i in range(0, len(text), 400)] or [""]
        for piece in chunks:
            c = {"id": "m", "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"content": piece}}]}  # fmt: skip
            await send({"type": "http.response.body", "body": event(c), "more_body": True})
        end = {"id": "m", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
        usage = {"id": "m", "object": "chat.completion.chunk", "choices": [],
                 "usage": {"prompt_tokens": prompt, "completion_tokens": out,
                           "total_tokens": prompt + out}}  # fmt: skip
        tail = event(end) + event(usage) + b"data: [DONE]\n\n"
        await send({"type": "http.response.body", "body": tail})


async def _json(send: Any, data: Any) -> None:
    raw = orjson.dumps(data)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": raw})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fd", type=int, required=True, help="an inherited listening socket")
    ap.add_argument("--prices", required=True)
    args = ap.parse_args()
    app = Mock(orjson.loads(args.prices))
    config = uvicorn.Config(app, log_level="critical")  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[adopt(args.fd)])


if __name__ == "__main__":
    main()
