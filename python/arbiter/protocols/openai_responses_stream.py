"""Canonical stream events -> OpenAI Responses API server-sent events. Pure, stateful per stream.

Each canonical block becomes one output item: a text block a `message` item (output_item.added,
content_part.added, output_text.delta..., output_text.done, content_part.done,
output_item.done), a tool_use block a `function_call` item (output_item.added,
function_call_arguments.delta..., function_call_arguments.done, output_item.done), a refusal
block a `message` item whose one part is a `refusal` (refusal.delta..., refusal.done), as
OpenAI streams one: the SDK then leaves it out of `output_parsed`. A refusal right after text
(Chat Completions `content` then `refusal`) is the second part (content_index 1) of the text's
message item, not an item of its own: one message with two parts, as OpenAI gives it and as
the non-streamed Response says (openai_responses._refused). The stream
opens with response.created and response.in_progress and ends with response.completed (or
response.incomplete when the output limit or a content filter cut it short) carrying the whole
Response with usage. An item's done events wait for the next item or the end of the message
(its stop reason kept until then), so the item an answer was cut in says `incomplete`, as
OpenAI's do. An answer with no message or function_call item (an Anthropic `content: []`, or
thinking alone) ends with an empty message item, as the whole Response has. Every event has a
`sequence_number` counting from 0. A failure after the stream began is an `error` event then
`response.failed`, whose output holds every item streamed so far (the open one `incomplete`).
An Anthropic upstream's thinking block is a `reasoning` item whose one content part is its
`reasoning_text` (output_item.added, reasoning_text.delta..., reasoning_text.done,
output_item.done), as OpenAI streams a reasoning model's text: a stream cut mid-thinking ends
with that item `incomplete` in `response.failed`, what the client was shown. Its signature
(signature_delta) is the item's `encrypted_content` when the request's `include` asks for it
(protocols/responses_reasoning.py), set on output_item.done and in the final Response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from arbiter.canonical import (
    BlockStart,
    BlockStop,
    CanonicalUsage,
    MessageDelta,
    MessageStart,
    MessageStop,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)
from arbiter.protocols.openai_responses_object import (
    Echo,
    function_call_item,
    incomplete_reason,
    item_id,
    message_item,
    output_text,
    response_object,
)
from arbiter.protocols.responses_reasoning import encrypted_content, reasoning_item


class _Item:
    __slots__ = (
        "arguments", "call_id", "carry", "closed", "cut", "id", "kind", "name", "output_index",
        "redacted", "signature", "text",
    )  # fmt: skip

    def __init__(self, kind: str, item_id_: str, output_index: int) -> None:
        self.kind = kind
        self.id = item_id_
        self.output_index = output_index
        self.text: list[str] = []  # the open content part's text
        self.closed: list[dict[str, Any]] = []  # a message's content parts already done
        self.arguments: list[str] = []
        self.call_id = ""
        self.name = ""
        self.cut = False  # its block ended with the stream: `incomplete` whatever follows
        self.signature = ""  # a thinking block's (signature_delta), a redacted one's data
        self.redacted = ""
        self.carry = False  # its reasoning item says `encrypted_content` (the include asked)

    @property
    def content_index(self) -> int:
        return len(self.closed)

    def done(self, status: str) -> dict[str, Any]:
        if self.kind == "reasoning":
            encrypted = encrypted_content(self.signature, self.redacted)
            return reasoning_item(self.id, "".join(self.text), status, encrypted, carry=self.carry)
        if self.kind in ("refusal", "message"):
            return {**message_item(self.id, "", status), "content": [*self.closed, self.part()]}
        return function_call_item(self.id, self.call_id, self.name, "".join(self.arguments), status)

    def part(self) -> dict[str, Any]:
        """The content part of a message item (text or refusal) as it stands."""
        text = "".join(self.text)
        return {"type": "refusal", "refusal": text} if self.kind == "refusal" else output_text(text)


class StreamEncoder:
    """`rid`, `model`, `echo` and `created_at` describe the Response; no clock is read here."""

    def __init__(
        self,
        rid: str,
        model: str,
        echo: Echo,
        created_at: int,
        tier: Callable[[], str | None] | None = None,
    ) -> None:
        """`tier`: the tier the upstream's chunks named so far (an OpenAI-protocol upstream's
        `service_tier`), read as each Response object is built."""
        self._tier = tier
        self._rid = rid
        self._model = model
        self._echo = echo
        self._created_at = created_at
        self._seq = 0
        self._items: dict[int, _Item] = {}  # canonical block index -> item
        self._output: list[dict[str, Any]] = []  # finished items, in output order
        self._stop: StopReason | None = None
        self._usage = CanonicalUsage()
        self._started = 0  # output items begun: the next one's output_index
        self._refused = False  # a refusal item was streamed: the response is completed
        # a message or function_call item began: else the end streams an empty message item,
        # the one the whole Response holds (openai_responses_object.output_items)
        self._answered = False
        # the last item that ended: its done events wait for the next item or the stop reason,
        # which says whether it was cut (status "incomplete") or finished
        self._ended: _Item | None = None

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        payload = {"type": kind, **payload, "sequence_number": self._seq}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _response(self, status: str, **more: Any) -> dict[str, Any]:
        tier = self._tier() if self._tier is not None else None
        return response_object(
            self._rid, self._created_at, self._model, self._echo, status=status,
            service_tier=tier, **more,
        )  # fmt: skip

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, MessageStart):
            opening = self._response("in_progress", output=[])
            return self._event("response.created", {"response": opening}) + self._event(
                "response.in_progress", {"response": opening}
            )
        if isinstance(event, BlockStart):
            ended = self._ended
            if event.kind == "refusal" and ended is not None and ended.kind == "message":
                return self._refusal_part(ended, event.index)
            return self._flush("completed") + self._start(event)
        if (
            isinstance(event, TextDelta | ThinkingDelta | ToolArgsDelta)
            and event.index not in self._items
        ):
            return b""  # a fragment for a block already closed (OpenAI upstreams, rare)
        if isinstance(event, ThinkingDelta):
            item = self._items[event.index]
            item.signature += event.signature
            item.redacted += event.redacted
            if not event.text:
                return b""  # a signature, or a redacted block's data: shown when it is done
            opened = self._open_reasoning(item) if item.output_index < 0 else b""
            item.text.append(event.text)
            return opened + self._event("response.reasoning_text.delta", {
                "item_id": item.id, "output_index": item.output_index, "content_index": 0,
                "delta": event.text,
            })  # fmt: skip
        if isinstance(event, TextDelta):
            item = self._items[event.index]
            item.text.append(event.text)
            kind = (
                "response.refusal.delta" if item.kind == "refusal" else "response.output_text.delta"
            )
            return self._event(kind, {
                "item_id": item.id, "output_index": item.output_index,
                "content_index": item.content_index, "delta": event.text,
                **({} if item.kind == "refusal" else {"logprobs": []}),
            })  # fmt: skip
        if isinstance(event, ToolArgsDelta):
            return self._args(self._items[event.index], event.partial_json)
        if isinstance(event, BlockStop):
            out = self._flush("completed")
            self._ended = self._items.pop(event.index, None)
            if self._ended is not None and self._ended.output_index < 0:
                self._ended = None  # a reasoning item never added (no text, not carried)
            ended = self._ended
            if ended is not None:
                ended.cut = event.cut
            if ended is not None and ended.kind == "function_call" and not ended.arguments:
                # a call without arguments (Anthropic: `input: {}`, no fragment): "{}", what
                # the whole answer says and json.loads accepts, not ""
                out += self._args(ended, "{}")
            return out
        if isinstance(event, MessageDelta):
            # only kept: the last item's done events wait for the message's end. Sent now, they
            # would be held with the stop reason (relay_codec.Translating: a stream that fails
            # after it must show no finish) and lost with it on a failure, numbers and all
            self._stop = event.stop_reason
            self._usage = event.usage
            return b""
        if isinstance(event, MessageStop):
            # a refusal's stop reason cuts nothing: its item is completed, as non-streamed
            cut = incomplete_reason(self._stop) is not None and not self._refused
            status = "incomplete" if cut else "completed"
            out = b""
            if not self._answered:  # nothing, or only thinking: an empty message ends it
                out = self._flush("completed") + self._start(BlockStart(-1, "text"))
                self._ended = self._items.pop(-1)
            out += self._flush(status)
            # a refusal is a completed answer, as the non-streamed Response says (_refused)
            stop = None if self._refused else self._stop
            done = self._response(
                "completed", output=self._output, stop_reason=stop, usage=self._usage,
                completed_at=self._created_at,
            )  # fmt: skip
            kind = "response.completed" if done["status"] == "completed" else "response.incomplete"
            return out + self._event(kind, {"response": done})
        return self.error(event)

    def _args(self, item: _Item, text: str) -> bytes:
        if not text:
            return b""
        item.arguments.append(text)
        return self._event("response.function_call_arguments.delta", {
            "item_id": item.id, "output_index": item.output_index, "delta": text,
        })  # fmt: skip

    def _start(self, event: BlockStart) -> bytes:
        if event.kind == "thinking":
            item = _Item("reasoning", "", -1)
            item.carry = self._echo.encrypted_reasoning
            self._items[event.index] = item
            # not carried, it is added with its first text: a redacted block, which has none,
            # is left out rather than shown as an empty item (openai_responses_object.output_items)
            return self._open_reasoning(item) if item.carry else b""
        index = self._started
        self._started += 1
        self._answered = True
        if event.kind != "tool_use":
            kind = "refusal" if event.kind == "refusal" else "message"
            self._refused = self._refused or kind == "refusal"
            item = _Item(kind, item_id(self._rid, "msg", index), index)
            self._items[event.index] = item
            added = self._event("response.output_item.added", {
                "output_index": index, "item": message_item(item.id, "", "in_progress"),
            })  # fmt: skip
            return added + self._event("response.content_part.added", {
                "item_id": item.id, "output_index": index, "content_index": 0,
                "part": item.part(),
            })  # fmt: skip
        item = _Item("function_call", item_id(self._rid, "fc", index), index)
        item.call_id, item.name = event.id or "", event.name or ""
        self._items[event.index] = item
        return self._event("response.output_item.added", {
            "output_index": index,
            "item": function_call_item(item.id, item.call_id, item.name, "", "in_progress"),
        })  # fmt: skip

    def _open_reasoning(self, item: _Item) -> bytes:
        item.output_index = index = self._started
        self._started += 1
        item.id = item_id(self._rid, "rs", index)
        return self._event("response.output_item.added", {
            "output_index": index, "item": item.done("in_progress"),
        })  # fmt: skip

    def _refusal_part(self, item: _Item, index: int) -> bytes:
        """A refusal block after a text block: the text part is done (completed: more of the
        answer followed it) and the refusal opens as the message's next part."""
        self._ended = None
        self._refused = True
        out = self._text_done(item) + self._part_done(item)
        item.closed.append(item.part())
        item.kind, item.text = "refusal", []
        self._items[index] = item
        return out + self._event("response.content_part.added", {
            "item_id": item.id, "output_index": item.output_index,
            "content_index": item.content_index, "part": item.part(),
        })  # fmt: skip

    def _text_done(self, item: _Item) -> bytes:
        return self._event("response.output_text.done", {
            "item_id": item.id, "output_index": item.output_index,
            "content_index": item.content_index, "text": "".join(item.text), "logprobs": [],
        })  # fmt: skip

    def _flush(self, status: str) -> bytes:
        """The done events of the item that ended last, now that its status is known."""
        item, self._ended = self._ended, None
        if item is None:
            return b""
        done = item.done("incomplete" if item.cut else status)
        self._output.append(done)
        if item.kind == "refusal":
            out = self._event("response.refusal.done", {
                "item_id": item.id, "output_index": item.output_index,
                "content_index": item.content_index, "refusal": "".join(item.text),
            })  # fmt: skip
            out += self._part_done(item)
        elif item.kind == "message":
            out = self._text_done(item) + self._part_done(item)
        elif item.kind == "reasoning":
            out = self._event("response.reasoning_text.done", {
                "item_id": item.id, "output_index": item.output_index, "content_index": 0,
                "text": "".join(item.text),
            })  # fmt: skip
        else:
            out = self._event("response.function_call_arguments.done", {
                "item_id": item.id, "name": item.name, "output_index": item.output_index,
                "arguments": done["arguments"],
            })  # fmt: skip
        return out + self._event(
            "response.output_item.done", {"output_index": item.output_index, "item": done}
        )

    def _part_done(self, item: _Item) -> bytes:
        return self._event("response.content_part.done", {
            "item_id": item.id, "output_index": item.output_index,
            "content_index": item.content_index, "part": item.part(),
        })  # fmt: skip

    def error(self, event: StreamError) -> bytes:
        """The terminal failure: an `error` event, then `response.failed` (never completed),
        whose output is what was streamed: the items done, then those cut open (as OpenAI's
        failed Response lists them), so a client can show or bill what it already received."""
        out = self._flush("completed")  # it ended before the failure
        err = event.error
        out += self._event("error", {"code": err.code, "message": err.message, "param": err.param})
        code = "rate_limit_exceeded" if err.http_status == 429 else "server_error"
        opened = (item for item in self._items.values() if item.output_index >= 0)
        cut = sorted(opened, key=lambda item: item.output_index)
        output = [*self._output, *(item.done("incomplete") for item in cut)]
        failed = self._response(
            "failed", output=output, error={"code": code, "message": err.message}
        )
        return out + self._event("response.failed", {"response": failed})
