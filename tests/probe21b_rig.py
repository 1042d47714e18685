"""probe21b's rig: a real `arbiter serve` in front of an upstream that records every body it
receives and answers by a script the request names in its own text (`[[s:NAME]]`, so tests on
one sidecar never share a script), speaking OpenAI's chat completions and embeddings and
Anthropic's messages, whole and streamed. The official openai SDK is the client.

Scripts: `ok` (text), `tool` (a call of the first offered tool), `refusal` (OpenAI's
`message.refusal`, Anthropic's `stop_reason: refusal`), `json` (a JSON object as the text),
`long` (the answer cut by the output limit), `tools2` (two calls, their argument fragments
interleaved), `text+tool` (text, then a call), `bad400` (the upstream's 400: the caller's
mistake, in its protocol's shape).
"""

from __future__ import annotations

import base64
import functools
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson

from tests.conftest import Sidecar
from tests.probe_rig import (
    Recorder,
    RecordingHandler,
    marker,
    model_toml,
    recorded_decision,
    rig_toml,
    sidecar_before,
    sse,
)

# USD per 1M tokens (in, out)
PRICES = {"oa-1": (1000.0, 2000.0), "an-1": (1000.0, 2000.0), "em-1": (100.0, 0.0),
          "em-small": (100.0, 0.0), "em-3": (100.0, 0.0)}  # fmt: skip
WINDOWS = {"em-small": 512, "em-3": 8192}  # tokens; 32,000 for the others
# the names sent upstream where not the model's own (em-3: one of OpenAI's embedding models)
UPSTREAM_MODELS = {"em-3": "text-embedding-3-small"}
PROMPT_TOKENS = 13
OUTPUT_TOKENS = 5
_MARK = b"[[s:"


def _script(body: dict[str, Any]) -> str:
    return marker(body, _MARK) or "ok"


def chat_answer(body: dict[str, Any], script: str) -> tuple[dict[str, Any], list[bytes]]:
    """A chat completion (whole) and its stream's frames."""
    model = body["model"]
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
             "total_tokens": PROMPT_TOKENS + OUTPUT_TOKENS}  # fmt: skip
    message: dict[str, Any] = {"role": "assistant", "content": "ok"}
    finish = "stop"
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": "o"}, {"content": "k"}]
    if script == "tool":
        name = body["tools"][0]["function"]["name"]
        call = {"id": "call_a1", "type": "function",
                "function": {"name": name, "arguments": '{"q": 1}'}}  # fmt: skip
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
        deltas = [
            {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_a1", "type": "function",
                                                  "function": {"name": name, "arguments": ""}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"q"'}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
        ]  # fmt: skip
    elif script in ("tools2", "text+tool"):  # two calls, their fragments interleaved; or text first
        name = body["tools"][0]["function"]["name"]
        calls = [
            {
                "id": f"call_b{i}",
                "type": "function",
                "function": {"name": name, "arguments": f'{{"q": {i}}}'},
            }
            for i in range(2)
        ]
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        finish = "tool_calls"
        deltas = [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_b0",
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ],
            },
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b1",
                        "type": "function",
                        "function": {"name": name, "arguments": '{"q"'},
                    }
                ]
            },
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"q"'}}]},
            {"tool_calls": [{"index": 1, "function": {"arguments": ": 1}"}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": ": 0}"}}]},
        ]
        if script == "text+tool":
            message = {**message, "content": "Looking.", "tool_calls": calls[:1]}
            deltas = [{"role": "assistant", "content": "Looking."}, deltas[0], deltas[2], deltas[4]]
    elif script == "refusal":
        message = {"role": "assistant", "content": None, "refusal": "I can't."}
        deltas = [{"role": "assistant", "refusal": "I can"}, {"refusal": "'t."}]
    elif script == "json":
        message = {"role": "assistant", "content": '{"a": 1}'}
        deltas = [{"role": "assistant", "content": '{"a"'}, {"content": ": 1}"}]
    elif script == "long":
        finish = "length"
    whole = {
        "id": "chatcmpl-r", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage,
    }  # fmt: skip
    head = {"id": "chatcmpl-r", "object": "chat.completion.chunk", "created": 1, "model": model}
    frames = [
        sse(None, {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
        for d in deltas
    ]
    frames.append(sse(None, {**head, "choices": [{"index": 0, "delta": {},
                                                   "finish_reason": finish}]}))  # fmt: skip
    frames.append(sse(None, {**head, "choices": [], "usage": usage}))
    frames.append(b"data: [DONE]\n\n")
    return whole, frames


def messages_answer(body: dict[str, Any], script: str) -> tuple[dict[str, Any], list[bytes]]:
    """An Anthropic message (whole) and its stream's frames."""
    content: list[dict[str, Any]] = [{"type": "text", "text": "ok"}]
    stop = "end_turn"
    if script == "tool":
        content = [{"type": "tool_use", "id": "toolu_a1", "name": body["tools"][0]["name"],
                    "input": {"q": 1}}]  # fmt: skip
        stop = "tool_use"
    elif script == "refusal":
        content = []
        stop = "refusal"
    elif script == "json":
        content = [{"type": "text", "text": '{"a": 1}'}]
    elif script == "long":
        stop = "max_tokens"
    usage = {"input_tokens": PROMPT_TOKENS, "output_tokens": OUTPUT_TOKENS}
    whole = {
        "id": "msg_r", "type": "message", "role": "assistant", "model": body["model"],
        "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage,
    }  # fmt: skip
    start = {**whole, "content": [], "stop_reason": None,
             "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}  # fmt: skip
    frames = [sse("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(content):
        if block["type"] == "text":
            opened: dict[str, Any] = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            opened = {**block, "input": {}}
            delta = {
                "type": "input_json_delta",
                "partial_json": orjson.dumps(block["input"]).decode(),
            }
        frames += [
            sse("content_block_start",
                 {"type": "content_block_start", "index": i, "content_block": opened}),
            sse("content_block_delta",
                 {"type": "content_block_delta", "index": i, "delta": delta}),
            sse("content_block_stop", {"type": "content_block_stop", "index": i}),
        ]  # fmt: skip
    frames += [
        sse("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": OUTPUT_TOKENS}}),
        sse("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return whole, frames


def embeddings_answer(body: dict[str, Any]) -> dict[str, Any]:
    raw = body["input"]
    items = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
    dims = int(body.get("dimensions") or 3)
    vector = [0.25] * dims
    b64 = body.get("encoding_format") == "base64"
    encoded: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if b64 else vector
    return {
        "object": "list", "model": body["model"],
        "data": [{"object": "embedding", "index": i, "embedding": encoded}
                 for i in range(len(items))],
        "usage": {"prompt_tokens": len(items), "total_tokens": len(items)},
    }  # fmt: skip


class _Handler(RecordingHandler):
    def do_POST(self) -> None:
        body = self.recorded_json()
        script = _script(body)
        if self.scripted(script, body):
            return None
        if script == "bad400":  # the upstream refuses the request as the caller's mistake
            anthropic = self.path.endswith("/messages")
            err = (
                {"type": "error", "error": {"type": "invalid_request_error",
                                            "message": "messages.0: bad thing"}}
                if anthropic
                else {"error": {"message": "Invalid 'messages[0]': bad thing.",
                                "type": "invalid_request_error", "param": "messages[0]",
                                "code": "invalid_value"}}
            )  # fmt: skip
            return self.answer(orjson.dumps(err), status=400)
        if self.path.endswith("/embeddings"):
            return self.answer(orjson.dumps(embeddings_answer(body)), "application/json")
        build = messages_answer if self.path.endswith("/messages") else chat_answer
        whole, frames = build(body, script)
        if body.get("stream"):
            return self.answer(b"".join(frames), "text/event-stream")
        return self.answer(orjson.dumps(whole), "application/json")

    def scripted(self, script: str, body: dict[str, Any]) -> bool:
        """A subclass's own scripts: True when it answered the request."""
        return False

    def _send(self, raw: bytes, ctype: str, status: int = 200) -> None:
        """(the subclasses' name for `answer`)"""
        self.answer(raw, ctype, status=status)


def config(port: int, db: Path, extra: str = "") -> str:
    """`extra`: TOML appended (more models, tenants)."""
    models = ""
    for name, prices in PRICES.items():
        up = "ra" if name.startswith("an") else "ro"
        caps = '["chat", "json", "json-schema", "tools", "vision", "pdf"]'  # pdf: file parts
        if name == "an-1":
            caps = '["chat", "json", "tools", "vision"]'
        if name.startswith("em-"):
            caps = '["chat", "no-route"]'
        more = f'upstream_model = "{UPSTREAM_MODELS[name]}"\n' if name in UPSTREAM_MODELS else ""
        models += model_toml(name, up, prices, WINDOWS.get(name, 32000), caps, more)
    failover = {"first_byte_timeout_s": 2.0, "total_timeout_s": 4.0, "deadline_s": 6.0,
                "retries_per_model": 0}  # fmt: skip
    return rig_toml(port, db, models + extra, failover)


@dataclass(slots=True)
class Rig:
    recorder: Recorder
    sidecar: Sidecar
    key: str
    client: openai.OpenAI

    def decision(self, decision_id: str) -> dict[str, Any]:
        return recorded_decision(self.sidecar, decision_id)

    def raw(self, path: str, body: Any, **headers: str) -> httpx.Response:
        """A POST the SDK would refuse to build (wrong shapes), as any HTTP client sends it;
        `headers` added (`_` in a name is `-`)."""
        more = {k.replace("_", "-"): v for k, v in headers.items()}
        return httpx.post(
            self.sidecar.root_url + path,
            content=body if isinstance(body, bytes) else orjson.dumps(body),
            headers={"authorization": f"Bearer {self.key}", "content-type": "application/json",
                     "host": "127.0.0.1", **more},
            timeout=30,
        )  # fmt: skip


@contextmanager
def rig(tmp: Path, base: type[_Handler] | None = None, extra: str = "") -> Iterator[Rig]:
    """`base`: the upstream's handler (a _Handler subclass with more scripts); `extra`: more
    config (config's)."""
    recorder = Recorder()
    with sidecar_before(
        tmp, base or _Handler, recorder, functools.partial(config, extra=extra)
    ) as (sidecar, key, client, _):
        yield Rig(recorder, sidecar, key, client)
