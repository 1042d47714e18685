"""probe23c's rig: probe21b's (a real `arbiter serve` in front of an upstream that records every
body and answers by the script the request names, `[[s:NAME]]`) with faults of the embeddings
endpoint and a model whose name holds a slash. The official openai SDK is the client.

More scripts: `e404` (the upstream has no /embeddings: a 404, OpenAI's shape), `ehtml` (a 404
page of HTML), `efew` (one vector fewer than the inputs), `enotlist` (`data` no array),
`enojson` (a 200 whose body is no JSON), `efloat` (floats whatever `encoding_format` asked),
`eb64` (base64 whatever it asked); `cut` (a stream's first text frames, then the connection
closed), `whole` (a whole answer to a request to stream), `err200` (an error object at HTTP
200: a rate limit).

`checked_stream` reads a Responses event stream as a client must be able to: every event valid
by OpenAI's spec, numbered from 0, each item added before its parts and deltas and done after
them, indexes in order, each done event's text the sum of its deltas, and the final Response's
output the items' done forms in order (a failed one, after its one `error` event: the items
done, then those cut open, `incomplete`).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from tests.openapi_spec import validate, validate_response_event
from tests.probe21b_rig import _Handler, chat_answer, embeddings_answer, messages_answer
from tests.sdk_clients import sse

# an embeddings model for the faults (its circuit apart from em-1's), a model named as a router
# names it (vendor/name), a Claude model that keeps strict schemas (structured outputs), and a
# tenant that may use only oa-1 and em-1
EXTRA = """
[models.em-x]
upstream = "ro"
price_in_per_mtok = 100.0
price_out_per_mtok = 0.0
context_window = 8192
capabilities = ["chat", "no-route"]
[models."acme/oa-2"]
upstream = "ro"
price_in_per_mtok = 1000.0
price_out_per_mtok = 2000.0
context_window = 32000
capabilities = ["chat", "json", "tools"]
[models.an-2]
upstream = "ra"
price_in_per_mtok = 1000.0
price_out_per_mtok = 2000.0
context_window = 32000
capabilities = ["chat", "json", "json-schema", "tools"]
[tenants.one]
allowed_models = ["oa-1", "em-1"]
"""
# the vector `efloat` and `eb64` answer (as floats, as float32 little-endian base64)
VECTOR = [0.1, -1.5, 3.0e-7, 12345.678]


class FaultHandler(_Handler):
    def scripted(self, script: str, body: dict[str, Any]) -> bool:
        if script == "cut" and body.get("stream"):  # the text's first frames, then closed
            anthropic = self.path.endswith("/messages")
            _, frames = (messages_answer if anthropic else chat_answer)(body, "ok")
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(b"".join(frames[: 3 if anthropic else 2]))
            self.close_connection = True
            return True
        if script == "whole" and body.get("stream"):  # a server that does not stream
            anthropic = self.path.endswith("/messages")
            whole, _ = (messages_answer if anthropic else chat_answer)(body, "ok")
            self._send(orjson.dumps(whole), "application/json")
            return True
        if script == "err200":  # an error object at HTTP 200, as some servers answer
            err = {"error": {"message": "Rate limit reached.", "type": "requests",
                             "code": "rate_limit_exceeded"}}  # fmt: skip
            self._send(orjson.dumps(err), "application/json")
            return True
        if not self.path.endswith("/embeddings"):
            return False
        if script == "e404":
            err = {"error": {"message": "Unknown request URL: POST /v1/embeddings.",
                             "type": "invalid_request_error", "param": None,
                             "code": "unknown_url"}}  # fmt: skip
            self._send(orjson.dumps(err), "application/json", 404)
        elif script == "ehtml":
            self._send(b"<html><body>404 Not Found</body></html>", "text/html", 404)
        elif script == "efew":
            answer = embeddings_answer(body)
            self._send(orjson.dumps({**answer, "data": answer["data"][:-1]}), "application/json")
        elif script == "enotlist":
            self._send(orjson.dumps({**embeddings_answer(body), "data": 3}), "application/json")
        elif script in ("efloat", "eb64"):
            answer = embeddings_answer({**body, "encoding_format": "float"})
            for item in answer["data"]:
                item["embedding"] = VECTOR
                if script == "eb64":
                    item["embedding"] = base64.b64encode(struct.pack("<4f", *VECTOR)).decode()
            self._send(orjson.dumps(answer), "application/json")
        elif script == "enojson":
            self._send(b"embeddings!", "application/json")
        else:
            return False
        return True


def checked_stream(raw: bytes) -> list[dict[str, Any]]:
    """The stream's events, each checked (see the module's docstring)."""
    events: list[dict[str, Any]] = []
    for name, data in sse(raw):
        event = orjson.loads(data)
        assert name == event["type"], (name, event["type"])
        validate_response_event(event)
        assert event["sequence_number"] == len(events), event
        events.append(event)
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in ("response.completed", "response.incomplete", "response.failed"), kinds
    failed = kinds[-1] == "response.failed"
    assert ("error" in kinds) == failed and kinds.count("error") <= 1, kinds
    if failed:  # the error event right before the end
        assert kinds[-2] == "error", kinds
    opened: dict[int, dict[str, Any]] = {}  # output_index -> the item as added
    done: dict[int, dict[str, Any]] = {}  # output_index -> the item as done
    parts: dict[tuple[int, int], str] = {}  # (output_index, content_index) -> its text so far
    arguments: dict[int, str] = {}
    for e in events[2 : -2 if failed else -1]:
        kind, at = e["type"], e.get("output_index", -1)
        if kind == "response.output_item.added":
            assert at == len(opened) + len(done) and at not in done, (at, e)
            opened[at] = e["item"]
            continue
        assert at in opened, ("an event of an item not open", e)
        assert e.get("item_id", opened[at]["id"]) == opened[at]["id"], e
        key = (at, e.get("content_index", -1))
        if kind == "response.output_item.done":
            assert not [k for k in parts if k[0] == at], ("a part left open", e)
            assert e["item"]["id"] == opened.pop(at)["id"]
            done[at] = e["item"]
        elif kind == "response.content_part.added":
            assert key not in parts, e
            parts[key] = ""
        elif kind == "response.content_part.done":
            part = e["part"]
            assert part.get("text", part.get("refusal")) == parts.pop(key), e
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            parts[key] += e["delta"]
        elif kind in ("response.output_text.done", "response.refusal.done"):
            assert e.get("text", e.get("refusal")) == parts[key], e
        elif kind == "response.function_call_arguments.delta":
            arguments[at] = arguments.get(at, "") + e["delta"]
        elif kind == "response.function_call_arguments.done":
            assert e["arguments"] == arguments.get(at, ""), e
        else:
            assert kind.startswith("response.reasoning_text."), e
    final = events[-1]["response"]
    validate("Response", final)
    if failed:  # what was streamed: the items done, then those cut open, `incomplete`
        assert final["status"] == "failed" and final["error"]["message"], final
        shown = [(done[i]["id"], done[i]["status"]) for i in sorted(done)]
        shown += [(opened[i]["id"], "incomplete") for i in sorted(opened)]
        assert [(i["id"], i["status"]) for i in final["output"]] == shown, final["output"]
        return events
    assert not opened, ("items never done", opened)
    assert final["output"] == [done[i] for i in range(len(done))]
    return events
