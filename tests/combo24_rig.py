"""combo24's rig: where features meet. One real `arbiter serve` child before a scripted upstream
of both protocols (tests/fault_upstream.py, here also streaming its tool calls), three tenants
(plain, cached, and one under a tight cap), and the official SDKs (sync and async, whole and
streamed) on the three surfaces. A cell is one request kind x surface x feature x fault; the
matrix (tests/test_combo24_matrix.py) is a pairwise cover of those, generated here (`pairwise`).

Each cell's request is read to its end into an `Outcome` (its choices, tool calls, finish, usage,
or the error in the surface's shape) and `check_cell` holds it to what a user expects: a valid
answer in the caller's shape or a clear non-500 error, n choices, tool calls intact, one
decision whose cost is what the upstream billed and what the global cap was charged, nothing
held after, the SLO's deadline kept, a repeat served from the cache only where the first
answer was whole and cacheable."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.conftest import ADMIN_KEY, Sidecar
from tests.fault_upstream import (
    COMPLETION_TOKENS,
    PROMPT_TOKENS,
    WORDS,
    FaultUpstream,
    fault_upstream,
)
from tests.probe_rig import keyed_sidecar, marker, model_toml, recorded_decision, rig_toml

PRICES = {"oa-1": (1000.0, 2000.0), "oa-2": (3000.0, 6000.0), "an-1": (1500.0, 3000.0)}
TIGHT_CAP_USD = 0.8  # the "tight" tenant's: a few calls, then budget_exceeded
SLO_MS = 300  # the SLO header's; the slow fault's first byte comes at SLOW_S
SLOW_S = 1.5
TINY = 3  # the tiny kind's max_tokens: the upstream's whole answers (7 tokens) are cut there
CELL = b"[[cell:"


class ComboUpstream(FaultUpstream):
    """fault_upstream's, streaming a tool-using request's calls (two calls of its first tool,
    as its whole answers have), and `once:FAULT`: FAULT on a cell's first call, then healthy."""

    def __init__(self) -> None:
        super().__init__()
        self.seen_cells: set[str] = set()
        self.cell_bills: dict[str, list[tuple[str, int, int]]] = {}  # a cell's own

    def _usage_for(
        self, body: dict[str, Any], model: str, kind: str, n: int, prompt: int = PROMPT_TOKENS
    ) -> Any:
        usage = FaultUpstream._usage_for(self, body, model, kind, n, prompt)
        self.cell_bills.setdefault(marker(body, CELL) or "", []).append(self.bills[-1])
        return usage

    async def _answer(self, w: asyncio.StreamWriter, path: str, body: dict[str, Any]) -> bool:
        model = str(body.get("model", ""))
        fault = marker(body, b"[[fault:" + model.encode() + b"=") or ""
        cell = marker(body, CELL) or ""
        if fault.startswith("once:"):
            first = cell not in self.seen_cells
            self.seen_cells.add(cell)
            raw = orjson.dumps(body).replace(
                b"[[fault:" + model.encode() + b"=" + fault.encode(),
                b"[[fault:" + model.encode() + b"=" + (fault[5:] if first else "ok").encode(),
            )
            body = orjson.loads(raw)
        return await FaultUpstream._answer(self, w, path, body)

    def _whole(self, path: str, body: dict[str, Any], model: str, kind: str) -> dict[str, Any]:
        """fault_upstream's answer, cut at the request's output limit where that is under its
        7 tokens (a word a token), as a provider cuts it: finish `length` / `max_tokens`."""
        answer: dict[str, Any] = FaultUpstream._whole(self, path, body, model, kind)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if not isinstance(limit, int) or limit >= COMPLETION_TOKENS or body.get("tools"):
            return answer
        text = "".join(WORDS[:limit])
        if path.endswith("/messages"):
            answer["content"] = [{"type": "text", "text": text}]
            answer["stop_reason"] = "max_tokens"
            if "usage" in answer:
                answer["usage"]["output_tokens"] = limit
        else:
            for choice in answer["choices"]:
                choice["message"]["content"], choice["finish_reason"] = text, "length"
            if "usage" in answer:
                n = len(answer["choices"])
                answer["usage"]["completion_tokens"] = limit * n
                answer["usage"]["total_tokens"] = answer["usage"]["prompt_tokens"] + limit * n
        self._cut_bill(body, limit)
        return answer

    def _cut_bill(self, body: dict[str, Any], limit: int) -> None:
        """The last bill (this answer's) at the `limit` tokens a choice it generated."""
        m, p, c = self.bills[-1]
        bills = self.cell_bills[marker(body, CELL) or ""]
        self.bills[-1] = bills[-1] = (m, p, c * limit // COMPLETION_TOKENS)

    def _cut_stream(self, path: str, body: dict[str, Any], frames: list[bytes]) -> list[bytes]:
        """A stream's frames cut at the request's output limit where that is under 7 tokens:
        `limit` word frames, then the finish (`length` / `max_tokens`) with its usage."""
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if not isinstance(limit, int) or limit >= COMPLETION_TOKENS:
            return frames
        words = len(WORDS)
        head = 2 if path.endswith("/messages") else 1  # message_start + block start; the role
        out = frames[: head + limit]
        for raw in frames[head + words :]:
            event, sep, data = raw.partition(b"data: ")
            if data.startswith(b"{"):
                doc = orjson.loads(data)
                if doc.get("type") == "message_delta":
                    doc["delta"]["stop_reason"] = "max_tokens"
                    if "usage" in doc:
                        doc["usage"]["output_tokens"] = limit
                for choice in doc.get("choices") or []:
                    if choice.get("finish_reason") == "stop":
                        choice["finish_reason"] = "length"
                if doc.get("usage") and "completion_tokens" in doc["usage"]:
                    n = int(body.get("n") or 1)
                    doc["usage"]["completion_tokens"] = limit * n
                    doc["usage"]["total_tokens"] = doc["usage"]["prompt_tokens"] + limit * n
                raw = event + sep + orjson.dumps(doc) + b"\n\n"
            out.append(raw)
        if len(self.bills) and self.cell_bills.get(marker(body, CELL) or ""):
            self._cut_bill(body, limit)
        return out

    def _events(self, path: str, body: dict[str, Any], model: str, kind: str) -> list[bytes]:
        frames: list[bytes] = FaultUpstream._events(self, path, body, model, kind)
        if not body.get("tools"):
            return self._cut_stream(path, body, frames)
        if path.endswith("/messages"):
            name = body["tools"][0]["name"]
            calls = []
            for j in range(2):
                at = j + 1
                calls += [
                    _ev("content_block_start", {"type": "content_block_start", "index": at,
                        "content_block": {"type": "tool_use", "id": f"toolu_{j}", "name": name,
                                          "input": {}}}),
                    _ev("content_block_delta", {"type": "content_block_delta", "index": at,
                        "delta": {"type": "input_json_delta", "partial_json": '{"q": '}}),
                    _ev("content_block_delta", {"type": "content_block_delta", "index": at,
                        "delta": {"type": "input_json_delta", "partial_json": f"{j}}}"}}),
                    _ev("content_block_stop", {"type": "content_block_stop", "index": at}),
                ]  # fmt: skip
            stop = 3 + len(WORDS)  # message_delta's index: after the text block's stop
            delta = orjson.loads(frames[stop].split(b"data: ", 1)[1])
            delta["delta"]["stop_reason"] = "tool_use"
            return frames[:stop] + calls + [_ev("message_delta", delta)] + frames[stop + 1 :]
        n = int(body.get("n") or 1)
        name = body["tools"][0]["function"]["name"]
        out = frames[:1]  # the role chunk; then per choice two calls, their arguments in two
        for j in range(2):
            starts = [{"index": i, "delta": {"tool_calls": [{"index": j, "id": f"call_{i}_{j}",
                       "type": "function", "function": {"name": name, "arguments": '{"q": '}}]},
                       "finish_reason": None} for i in range(n)]  # fmt: skip
            rest = {"arguments": f"{j}}}"}
            rests = [{"index": i, "delta": {"tool_calls": [{"index": j, "function": rest}]},
                      "finish_reason": None} for i in range(n)]  # fmt: skip
            out += [_chunk(model, starts), _chunk(model, rests)]
        for raw in frames[1 + len(WORDS) :]:
            if b'"finish_reason":"stop"' in raw:
                raw = raw.replace(b'"finish_reason":"stop"', b'"finish_reason":"tool_calls"')
            out.append(raw)
        return out


def _ev(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _chunk(model: str, choices: list[dict[str, Any]]) -> bytes:
    data = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1,
            "model": model, "choices": choices}  # fmt: skip
    return b"data: " + orjson.dumps(data) + b"\n\n"


def config(port: int, db: Path) -> str:
    priors = "".join(
        f"{t} = 0.9\n"
        for t in ("chat", "code", "math", "extraction", "summarization", "translation", "creative")
    )
    models = "[cache]\nsemantic = true\n[tenants.cached]\ncache = true\n"
    for name, prices in PRICES.items():
        up = "fa" if name.startswith("an") else "fo"
        caps = '["chat", "json", "json-schema", "tools", "vision"]'
        models += model_toml(name, up, prices, 32000, caps, f"[models.{name}.priors]\n{priors}")
    routing = (
        'cascade_tasks = ["extraction", "math"]\ncascade_first_model = "oa-1"\n'
        "cascade_all = true\ncascade_min_answer_tokens = { extraction = 100 }\n"
        "cascade_math_verifier = 0.5\n"
    )
    failover = {"connect_timeout_s": 1.0, "first_byte_timeout_s": 3.0, "total_timeout_s": 4.0,
                "deadline_s": 8.0, "retries_per_model": 1, "backoff_ms": 10,
                "max_retry_after_s": 1.0}  # fmt: skip
    text = rig_toml(port, db, models, failover, baseline="oa-2", routing=routing,
                    breaker=1000, upstreams=("fo", "fa"))  # fmt: skip
    tight = f'{{ scope = "tenant", name = "tight", limit_usd = {TIGHT_CAP_USD}, window = "total" }}'
    return text.replace("caps = [", f"caps = [{tight}, ", 1)


@dataclass(slots=True)
class Rig:
    up: ComboUpstream
    sidecar: Sidecar
    keys: dict[str, str]  # tenant -> key

    def admin_get(self, path: str) -> Any:
        r = httpx.get(
            self.sidecar.root_url + path,
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def global_books(self) -> tuple[float, float]:
        """The global cap's spend and what it holds reserved."""
        rows = [r for r in self.admin_get("/arbiter/budgets")["data"] if r["scope"] == "global"]
        return sum(r["spent_usd"] for r in rows), sum(r["reserved_usd"] for r in rows)

    def tenant_spent(self, tenant: str) -> float:
        rows = self.admin_get("/arbiter/budgets")["data"]
        return sum(r["spent_usd"] for r in rows if r["scope"] == f"tenant:{tenant}")

    def newest_decision(self) -> dict[str, Any] | None:
        rows = self.admin_get("/arbiter/decisions?limit=1")["data"]
        return dict(rows[0]) if rows else None

    def failed_calls_maybe(self) -> float:
        """/metrics' failed upstream calls that may have been billed."""
        r = httpx.get(
            self.sidecar.root_url + "/metrics",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in r.text.splitlines()
            if line.startswith("arbiter_failed_upstream_calls_total{") and 'billed="maybe"' in line
        )

    def billed_usd(self, cell: Cell) -> float:
        bills = self.up.cell_bills.get(f"{cell.n}.0", [])
        return sum((p * PRICES[m][0] + c * PRICES[m][1]) / 1e6 for m, p, c in bills)


@contextmanager
def rig(tmp: Path) -> Iterator[Rig]:
    up = ComboUpstream()
    with (
        fault_upstream(up),
        keyed_sidecar(tmp / "a.toml", config(up.port, tmp / "a.db")) as (sidecar, _),
    ):
        keys = {t: str(sidecar.create_key(t)["key"]) for t in ("plain", "cached", "tight")}
        yield Rig(up, sidecar, keys)


# the matrix --------------------------------------------------------------------------------

KINDS = ("plain", "n2", "tools_forced", "parallel_tools", "image", "json_schema", "history",
         "stop", "tiny")  # fmt: skip
SURFACES = ("chat:auto", "chat:an-1", "responses:auto", "responses:an-1", "messages:auto",
            "messages:oa-1")  # fmt: skip
TOOL_KINDS = ("tools_forced", "parallel_tools", "history")  # the upstream answers with calls
FEATURES = ("none", "cascade", "cascade_math", "cache", "slo", "budget", "failover")
FAULTS = ("none", "500_then_ok", "429_retry_after", "cut", "slow", "no_usage", "disconnect")
MODES = ("sync_whole", "sync_stream", "async_whole", "async_stream")


@dataclass(frozen=True, slots=True)
class Cell:
    n: int
    kind: str
    surface: str
    feature: str
    fault: str
    mode: str

    @property
    def stream(self) -> bool:
        return self.mode.endswith("stream") or self.fault == "disconnect"

    @property
    def aio(self) -> bool:
        return self.mode.startswith("async")

    @property
    def protocol(self) -> str:
        return self.surface.split(":")[0]

    @property
    def model(self) -> str:
        return self.surface.split(":")[1]

    def __str__(self) -> str:
        return f"{self.n}-{self.kind}-{self.surface}-{self.feature}-{self.fault}-{self.mode}"


def _allowed(values: dict[str, str]) -> bool:
    # n is chat's alone (n = 2 to an Anthropic model is a 400: chat:an-1's n2 cell below)
    return not (values.get("kind") == "n2" and values.get("surface", "chat:auto") != "chat:auto")


def pairwise() -> list[Cell]:
    """A greedy pairwise cover of the dimensions (every allowed pair of values of two
    dimensions in some cell), deterministic."""
    dims = {"kind": KINDS, "surface": SURFACES, "feature": FEATURES, "fault": FAULTS,
            "mode": MODES}  # fmt: skip
    names = list(dims)
    todo = {
        ((a, va), (b, vb))
        for a, b in itertools.combinations(names, 2)
        for va in dims[a]
        for vb in dims[b]
        if _allowed({a: va, b: vb})
    }
    cells: list[Cell] = []
    while todo:
        best: dict[str, str] = {}
        best_gain = -1
        (a, va), (b, vb) = min(todo)
        others = [x for x in names if x not in (a, b)]
        for rest in itertools.product(*(dims[x] for x in others)):
            values = {a: va, b: vb, **dict(zip(others, rest, strict=True))}
            if not _allowed(values):
                continue
            gain = sum(
                ((x, values[x]), (y, values[y])) in todo
                for x, y in itertools.combinations(names, 2)
            )
            if gain > best_gain:
                best, best_gain = values, gain
        for x, y in itertools.combinations(names, 2):
            todo.discard(((x, best[x]), (y, best[y])))
        cells.append(Cell(len(cells), **best))
    return cells


# a cell's request --------------------------------------------------------------------------

PNG_1PX = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8Dw"
    "HwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}},
          "required": ["answer"], "additionalProperties": False}  # fmt: skip


def prompt(cell: Cell, repeat: int = 0) -> str:
    """The cell's text: its task (a cascade's), its fault's markers for every model, its id."""
    task = {"cascade": "Extract all the names from this text: Alice met Bob in Paris.",
            "cascade_math": "What is 17 * 23? Give the number."}.get(cell.feature,
            "Tell me something about cats.")  # fmt: skip
    fault = {"500_then_ok": "once:status@500", "429_retry_after": "once:status@429:1",
             "cut": "reset@3" if cell.stream else "truncated", "slow": f"delay@{SLOW_S}",
             "no_usage": "nousage"}.get(cell.fault)  # fmt: skip
    marks = "".join(f" [[fault:{m}={fault}]]" for m in PRICES) if fault else ""
    if cell.feature == "failover":  # the first model tried fails every time
        first = "an-1" if cell.model == "an-1" else "oa-1"
        marks += f" [[fault:{first}=status@500]]"
    return f"{task}{marks} [[cell:{cell.n}.{repeat}]]"


def _tools(protocol: str, kind: str) -> list[dict[str, Any]]:
    names = ["lookup", "search"] if kind == "parallel_tools" else ["lookup"]
    params = {"type": "object", "properties": {"q": {"type": "integer"}}}
    if protocol == "chat":
        return [{"type": "function", "function": {"name": n, "description": "find",
                 "parameters": params}} for n in names]  # fmt: skip
    if protocol == "responses":
        return [{"type": "function", "name": n, "description": "find", "parameters": params}
                for n in names]  # fmt: skip
    return [{"name": n, "description": "find", "input_schema": params} for n in names]


def request(cell: Cell, text: str) -> dict[str, Any]:
    """The SDK call's arguments for the cell's surface and kind."""
    p, kind = cell.protocol, cell.kind
    user: Any = text
    if kind == "image":
        user = (
            [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": PNG_1PX}}]
            if p == "chat"
            else [{"type": "input_text", "text": text},
                  {"type": "input_image", "image_url": PNG_1PX}]
            if p == "responses"
            else [{"type": "text", "text": text}, {"type": "image", "source": {"type": "base64",
                  "media_type": "image/png", "data": PNG_1PX.split(",", 1)[1]}}]
        )  # fmt: skip
    msgs: list[dict[str, Any]] = [{"role": "user", "content": user}]
    kw: dict[str, Any] = {"model": cell.model}
    if kind == "history":
        msgs = _history(p, text)
    if kind in TOOL_KINDS:
        kw["tools"] = _tools(p, kind)
    if kind == "tools_forced":
        kw["tool_choice"] = {"chat": {"type": "function", "function": {"name": "lookup"}},
                             "responses": {"type": "function", "name": "lookup"},
                             "messages": {"type": "tool", "name": "lookup"}}[p]  # fmt: skip
    if kind == "parallel_tools" and p != "messages":
        kw["parallel_tool_calls"] = True
    if kind == "json_schema":
        if p == "chat":
            kw["response_format"] = {"type": "json_schema", "json_schema": {"name": "a",
                                     "strict": True, "schema": SCHEMA}}  # fmt: skip
        elif p == "responses":
            kw["text"] = {"format": {"type": "json_schema", "name": "a", "strict": True,
                          "schema": SCHEMA}}  # fmt: skip
        else:
            kw["extra_body"] = {"output_config": {"format": {"type": "json_schema",
                                "schema": SCHEMA}}}  # fmt: skip
    if kind == "stop":
        if p == "chat":
            kw["stop"] = ["END", "\n\n"]
        elif p == "messages":
            kw["stop_sequences"] = ["END"]
    if kind == "n2":
        kw["n"] = 2
    limit = TINY if kind == "tiny" else 64  # a tiny limit cuts the upstream's whole answers
    kw[{"chat": "max_tokens", "responses": "max_output_tokens", "messages": "max_tokens"}[p]] = (
        max(limit, 16) if p == "responses" else limit  # Responses' least is 16
    )
    if p == "responses":
        kw["input"] = msgs
    else:
        kw["messages"] = msgs
    if cell.stream and p == "chat":
        kw["stream_options"] = {"include_usage": True}
    return kw


def _history(p: str, text: str) -> list[dict[str, Any]]:
    """A user turn, the assistant's tool call, its result, and the next user turn."""
    first = {"role": "user", "content": "Look up item 3."}
    if p == "chat":
        return [first,
                {"role": "assistant", "content": None, "tool_calls": [{"id": "call_h1",
                 "type": "function", "function": {"name": "lookup", "arguments": '{"q": 3}'}}]},
                {"role": "tool", "tool_call_id": "call_h1", "content": "item 3 is a cat"},
                {"role": "user", "content": text}]  # fmt: skip
    if p == "responses":
        return [first,
                {"type": "function_call", "call_id": "call_h1", "name": "lookup",
                 "arguments": '{"q": 3}'},
                {"type": "function_call_output", "call_id": "call_h1", "output": "item 3 is a cat"},
                {"role": "user", "content": text}]  # fmt: skip
    return [first,
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_h1",
             "name": "lookup", "input": {"q": 3}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_h1",
             "content": "item 3 is a cat"}, {"type": "text", "text": text}]}]  # fmt: skip


# reading an answer -------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error: Any = None  # the error body (or the stream's error), in the surface's shape
    choices: dict[int, dict[str, Any]] = field(default_factory=dict)  # text, calls, finish
    usage: Any = None
    ended: bool = False  # the stream reached its end event ([DONE], message_stop, completed)
    elapsed_s: float = 0.0
    left: bool = False  # the client left mid-stream

    def choice(self, i: int) -> dict[str, Any]:
        return self.choices.setdefault(i, {"text": "", "calls": {}, "finish": None})


def _clients(rig_: Rig, tenant: str, aio: bool) -> tuple[Any, Any]:
    key = rig_.keys[tenant]
    sc = rig_.sidecar
    if aio:
        return (
            openai.AsyncOpenAI(base_url=sc.base_url, api_key=key, max_retries=0, timeout=15),
            anthropic.AsyncAnthropic(base_url=sc.root_url, api_key=key, max_retries=0, timeout=15),
        )
    return (
        openai.OpenAI(base_url=sc.base_url, api_key=key, max_retries=0, timeout=15),
        anthropic.Anthropic(base_url=sc.root_url, api_key=key, max_retries=0, timeout=15),
    )


def call(
    rig_: Rig, cell: Cell, tenant: str, kw: dict[str, Any], headers: dict[str, str]
) -> Outcome:
    """The cell's request through its SDK, read to its end (or left after two events where the
    cell's client disconnects)."""
    out = Outcome()
    start = time.monotonic()
    if cell.aio:
        asyncio.run(_call_async(rig_, cell, tenant, kw, headers, out))
    else:
        oa, an = _clients(rig_, tenant, False)
        with oa, an:
            try:
                raw = _create(oa, an, cell)(stream=cell.stream, extra_headers=headers, **kw)
                out.headers = dict(raw.headers)
                parsed = raw.parse()
                if not cell.stream:
                    _whole(cell, parsed, out)
                else:
                    for i, event in enumerate(parsed):
                        if cell.fault == "disconnect" and i == 2:
                            parsed.close()
                            out.left = True
                            break
                        _event(cell, event, out)
            except (openai.APIStatusError, anthropic.APIStatusError) as err:
                out.status, out.error = err.status_code, err.body
                out.headers = dict(err.response.headers)
            except (openai.APIError, anthropic.APIError) as err:  # an error event in a stream
                out.error = {"stream_error": str(err), "body": getattr(err, "body", None)}
    out.elapsed_s = time.monotonic() - start
    return out


async def _call_async(
    rig_: Rig, cell: Cell, tenant: str, kw: dict[str, Any], headers: dict[str, str], out: Outcome
) -> None:
    oa, an = _clients(rig_, tenant, True)
    async with oa, an:
        try:
            raw = await _create(oa, an, cell)(stream=cell.stream, extra_headers=headers, **kw)
            out.headers = dict(raw.headers)
            parsed = raw.parse()
            if inspect.isawaitable(parsed):  # anthropic's async raw response parses async
                parsed = await parsed
            if not cell.stream:
                _whole(cell, parsed, out)
                return
            i = 0
            async for event in parsed:
                if cell.fault == "disconnect" and i == 2:
                    await parsed.close()
                    out.left = True
                    break
                _event(cell, event, out)
                i += 1
        except (openai.APIStatusError, anthropic.APIStatusError) as err:
            out.status, out.error = err.status_code, err.body
            out.headers = dict(err.response.headers)
        except (openai.APIError, anthropic.APIError) as err:
            out.error = {"stream_error": str(err), "body": getattr(err, "body", None)}


def _create(oa: Any, an: Any, cell: Cell) -> Any:
    if cell.protocol == "chat":
        return oa.chat.completions.with_raw_response.create
    if cell.protocol == "responses":
        return oa.responses.with_raw_response.create
    return an.messages.with_raw_response.create


def strict(obj: Any) -> Any:
    """What an SDK parsed leniently, validated strictly by its own pydantic type."""
    return type(obj).model_validate(obj.to_dict(mode="json"))


def _whole(cell: Cell, answer: Any, out: Outcome) -> None:
    strict(answer)
    out.usage = answer.usage
    out.ended = True
    if cell.protocol == "chat":
        for c in answer.choices:
            ch = out.choice(c.index)
            ch["text"], ch["finish"] = c.message.content or "", c.finish_reason
            for j, tc in enumerate(c.message.tool_calls or []):
                ch["calls"][j] = {"id": tc.id, "name": tc.function.name,
                                  "args": tc.function.arguments}  # fmt: skip
    elif cell.protocol == "responses":
        ch = out.choice(0)
        ch["finish"] = answer.status
        for item in answer.output:
            if item.type == "message":
                ch["text"] += "".join(getattr(p, "text", "") for p in item.content)
            elif item.type == "function_call":
                ch["calls"][len(ch["calls"])] = {"id": item.call_id, "name": item.name,
                                                 "args": item.arguments}  # fmt: skip
    else:
        ch = out.choice(0)
        ch["finish"] = answer.stop_reason
        for block in answer.content:
            if block.type == "text":
                ch["text"] += block.text
            elif block.type == "tool_use":
                args = orjson.dumps(block.input).decode()
                ch["calls"][len(ch["calls"])] = {"id": block.id, "name": block.name, "args": args}


def _event(cell: Cell, ev: Any, out: Outcome) -> None:
    if cell.protocol == "chat":
        if ev.usage is not None:
            out.usage = ev.usage
        for c in ev.choices:
            ch = out.choice(c.index)
            ch["text"] += c.delta.content or ""
            if c.finish_reason:
                ch["finish"] = c.finish_reason
                out.ended = True
            for tc in c.delta.tool_calls or []:
                call_ = ch["calls"].setdefault(tc.index, {"id": None, "name": "", "args": ""})
                call_["id"] = call_["id"] or tc.id
                if tc.function is not None:
                    call_["name"] += tc.function.name or ""
                    call_["args"] += tc.function.arguments or ""
        return
    if cell.protocol == "responses":
        ch = out.choice(0)
        if ev.type == "response.output_text.delta":
            ch["text"] += ev.delta
        elif ev.type == "response.output_item.done" and ev.item.type == "function_call":
            ch["calls"][len(ch["calls"])] = {"id": ev.item.call_id, "name": ev.item.name,
                                             "args": ev.item.arguments}  # fmt: skip
        elif ev.type in ("response.completed", "response.incomplete", "response.failed"):
            strict(ev.response)
            ch["finish"] = ev.response.status
            out.usage = ev.response.usage
            out.ended = ev.type == "response.completed"
            if ev.type == "response.failed":  # the stream's error, in Responses' shape
                out.error = {"stream_error": ev.response.error.message}
        return
    ch = out.choice(0)
    if ev.type == "content_block_start" and ev.content_block.type == "tool_use":
        ch["calls"][ev.index] = {"id": ev.content_block.id, "name": ev.content_block.name,
                                 "args": ""}  # fmt: skip
    elif ev.type == "content_block_delta":
        if ev.delta.type == "text_delta":
            ch["text"] += ev.delta.text
        elif ev.delta.type == "input_json_delta":
            ch["calls"][ev.index]["args"] += ev.delta.partial_json
    elif ev.type == "message_delta":
        ch["finish"] = ev.delta.stop_reason
        out.usage = ev.usage
    elif ev.type == "message_stop":
        out.ended = True


# the checks --------------------------------------------------------------------------------


def error_in_shape(cell: Cell, out: Outcome) -> None:
    """A clear error: never a 500, its body in the surface's shape with a message."""
    assert out.status != 500, out.error
    err = out.error
    if isinstance(err, dict) and "stream_error" in err:
        assert err["stream_error"], err  # the stream's error event, which the SDK raised
        return
    if cell.protocol == "messages":
        assert isinstance(err, dict) and err.get("type") == "error", err  # the SDK's body
        assert err["error"]["type"] and err["error"]["message"], err
    else:
        assert isinstance(err, dict) and err.get("message"), err  # openai's body: the object
        assert err.get("type") or err.get("code"), err


def answer_intact(cell: Cell, out: Outcome) -> None:
    """A valid answer of the cell's kind: its choices, tool calls, finish, and its end."""
    assert out.ended, out
    want = 2 if cell.kind == "n2" else 1
    answered_by = out.headers.get("x-arbiter-model", "")
    assert sorted(out.choices) == list(range(want)), out.choices
    for ch in out.choices.values():
        if cell.kind in TOOL_KINDS:
            calls = list(ch["calls"].values())
            assert len(calls) == 2, ch  # the upstream's two calls, whole or streamed
            assert all(c["id"] and c["name"] == "lookup" for c in calls), calls
            assert [orjson.loads(c["args"]) for c in calls] == [{"q": 0}, {"q": 1}], calls
            assert len({c["id"] for c in calls}) == 2, calls
            assert ch["finish"] in ("tool_calls", "tool_use", "completed"), ch
        elif cell.kind == "json_schema" and not cell.stream and answered_by.startswith("oa"):
            assert orjson.loads(ch["text"]) == {"answer": "ok"}, ch  # the fake's JSON (whole)
        elif cell.kind == "tiny" and ch["finish"] in ("length", "max_tokens", "incomplete"):
            assert ch["text"] == "".join(WORDS[:TINY]), ch  # cut at the request's own limit
        else:
            assert ch["text"] == "".join(WORDS), ch
    if cell.stream and cell.protocol == "chat":
        assert out.usage is not None, "include_usage asked, no usage chunk"


def decision_of(rig_: Rig, out: Outcome) -> dict[str, Any] | None:
    did = out.headers.get("x-arbiter-decision-id")
    return recorded_decision(rig_.sidecar, did) if did else None


def books_settle(rig_: Rig, before_spent: float, cost: float) -> None:
    """The global cap charged the decision's cost, nothing left reserved (bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        spent, reserved = rig_.global_books()
        if spent - before_spent == pytest.approx(cost, abs=1e-9) and reserved < 1e-9:
            return
        assert time.monotonic() < deadline, (spent - before_spent, cost, reserved)
        time.sleep(0.05)


NOT_BILLED = {"upstream_rate_limited", "upstream_paused"}


def bill_matches(rig_: Rig, cell: Cell, record: dict[str, Any], out: Outcome) -> None:
    """The decision's cost against what the upstream billed."""
    cost = float(record["cost_usd"] or 0.0)
    bill = rig_.billed_usd(cell)
    attempts = record.get("attempts") or []
    free = all(a["ok"] or a["error"] in NOT_BILLED or a.get("billed") is False for a in attempts)
    if out.left or cell.fault == "cut":
        assert cost > 0, record  # a cut or left stream is charged what it may have cost
    elif cell.fault == "no_usage":  # priced from what it relayed (dropped_usage.py)
        # an image's prompt is counted by its model's image rule, which the scripted upstream's
        # 11 prompt tokens ignore: bounded by the call's worst case, as the hold said
        worst = float(out.headers.get("x-arbiter-cost-usd-reserved") or 0)
        high = worst if cell.kind == "image" and worst else 4 * bill
        assert bill / 2 <= cost <= high, (bill, record)
    elif free:
        assert cost == pytest.approx(bill, rel=1e-6, abs=1e-9), (bill, record)
    else:
        assert cost >= bill - 1e-9, (bill, record)
