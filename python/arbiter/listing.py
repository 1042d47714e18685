"""An upstream's model listing (`GET /v1/models`), parsed into what the registry can use.

The listing is untrusted input: its size is bounded by the caller (discovery.py), JSON nesting by
orjson (1024 levels), and here every entry is checked field by field; an entry that is not a usable
model is skipped and counted, never raised. No regex: names are checked with string operations and
include/exclude globs are matched by `glob_match` (two pointers, no backtracking blow-up).

An entry named `auto` (RESERVED_IDS: Arbiter's "route this") is skipped like any unusable one.

Shapes accepted per entry (each field optional but `id`; the first one present wins):
  id               `id` (OpenAI, OpenRouter, vLLM, Anthropic), `model_name` (LiteLLM /model/info)
  context window   `context_length` (OpenRouter, Together), `context_window`, `max_model_len`
                   (vLLM), `max_input_tokens` (Anthropic, LiteLLM), `top_provider.context_length`
  max output       `max_output_tokens`, `max_completion_tokens`,
                   `top_provider.max_completion_tokens`, `max_tokens` (Anthropic, LiteLLM)
  prices, USD/1M   `price_in_per_mtok`/`price_out_per_mtok`, `input_price_per_mtok`/
                   `output_price_per_mtok`, `input_cost_per_million`/`output_cost_per_million`,
                   `pricing.input`/`pricing.output` (Together: numbers per 1M)
  prices, USD/tok  `pricing.prompt`/`pricing.completion` (OpenRouter: decimal strings per token),
                   `input_cost_per_token`/`output_cost_per_token` (LiteLLM)
  capabilities     `architecture.input_modalities` or `input_modalities` or `modalities`
                   containing "image" -> vision; `supported_parameters` with "tools" -> tools and
                   "response_format" -> json, "structured_outputs" -> json and json-schema,
                   no "logprobs" -> no-logprobs, no "reasoning" -> no-reasoning-effort
                   (OpenRouter); LiteLLM's `supports_vision`, `supports_function_calling`,
                   `supports_response_schema` (json and json-schema); Anthropic's
                   `capabilities` as a list of names or a map name -> bool / {"supported": bool}
                   (its `thinking` -> thinking, `pdf_input` -> pdf, `image_input` -> vision)
LiteLLM's `/model/info` entries nest these fields under `model_info`; they are read from there too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arbiter.config_limits import (
    MAX_MODEL_NAME_CHARS,
    MAX_MODEL_TOKENS,
    MAX_PRICE_PER_MTOK,
    model_name_ok,
)
from arbiter.implied_capabilities import ADAPTIVE, IMPLIED, without

MAX_ENTRIES = 10_000  # per listing (all pages): more is skipped and counted
MAX_ID_CHARS = MAX_MODEL_NAME_CHARS
# Arbiter's own name for "route this request": a listed model of that name could never be called
# by name, and would be routed to as an ordinary model; it is skipped like any unusable entry
RESERVED_IDS = frozenset({"auto"})
_MAX_NUMBER_CHARS = 64  # a price or token count given as a string
# a strict JSON schema is JSON too: `structured_outputs` (OpenRouter's parameter, Anthropic's
# capability) and LiteLLM's `supports_response_schema` name schema-constrained decoding
_SCHEMA = ("json", "json-schema")
_ALIASES = {"vision": ("vision",), "image_input": ("vision",), "tools": ("tools",),
            "tool_use": ("tools",), "function_calling": ("tools",), "json": ("json",),
            "structured_outputs": _SCHEMA, "json_schema": _SCHEMA,
            "json-schema": _SCHEMA, "thinking": ("thinking",),
            "pdf_input": ("pdf",), "pdf": ("pdf",),
            "adaptive-thinking": ("adaptive-thinking",),
            "interleaved-thinking": ("interleaved-thinking",)}  # fmt: skip
# a capability the listing said a model lacks, of those a protocol implies
_MARKERS = frozenset(without(c) for caps in IMPLIED.values() for c in caps)


@dataclass(frozen=True, slots=True)
class Listed:
    """One model as an upstream lists it (None: the listing did not say)."""

    id: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    price_in_per_mtok: float | None = None
    price_out_per_mtok: float | None = None
    capabilities: frozenset[str] = frozenset()

    @property
    def priced(self) -> bool:
        return self.price_in_per_mtok is not None and self.price_out_per_mtok is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "price_in_per_mtok": self.price_in_per_mtok,
            "price_out_per_mtok": self.price_out_per_mtok,
            "capabilities": sorted(self.capabilities),
        }

    @staticmethod
    def from_json(model_id: str, doc: Mapping[str, Any]) -> Listed:
        """The stored form back (written by `to_json`; re-checked, as the store is shared)."""
        return _entry({"id": model_id, **doc}) or Listed(model_id)


@dataclass(slots=True)
class Page:
    models: list[Listed] = field(default_factory=list)
    skipped: int = 0  # entries that were not a usable model
    has_more: bool = False  # Anthropic paging
    last_id: str | None = None
    valid: bool = True  # False: not a listing at all (no `data` list): nothing can be concluded


def parse_page(doc: Any) -> Page:
    """One listing page (`{"data": [...]}`, or a bare list) -> its usable models."""
    page = Page()
    data = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(data, list):
        page.valid = False
        return page
    for raw in data[:MAX_ENTRIES]:
        listed = _entry(raw) if isinstance(raw, dict) else None
        if listed is None:
            page.skipped += 1
        else:
            page.models.append(listed)
    page.skipped += max(len(data) - MAX_ENTRIES, 0)
    if isinstance(doc, dict):
        page.has_more = doc.get("has_more") is True
        last = doc.get("last_id")
        page.last_id = last if _valid_id(last) else None
    return page


def _entry(raw: Mapping[str, Any]) -> Listed | None:
    info = raw.get("model_info")
    fields: Mapping[str, Any] = {**info, **raw} if isinstance(info, dict) else raw
    model_id = raw.get("id", raw.get("model_name"))
    if not _valid_id(model_id) or model_id in RESERVED_IDS:
        return None
    top = fields.get("top_provider")
    top = top if isinstance(top, dict) else {}
    pricing = fields.get("pricing")
    pricing = pricing if isinstance(pricing, dict) else {}
    context = _first_tokens(
        fields.get("context_length"), fields.get("context_window"), fields.get("max_model_len"),
        fields.get("max_input_tokens"), top.get("context_length"),
    )  # fmt: skip
    output = _first_tokens(
        fields.get("max_output_tokens"), fields.get("max_completion_tokens"),
        top.get("max_completion_tokens"), fields.get("max_tokens"),
    )  # fmt: skip
    price_in = _first_price(
        (fields.get("price_in_per_mtok"), 1.0), (fields.get("input_price_per_mtok"), 1.0),
        (fields.get("input_cost_per_million"), 1.0), (pricing.get("input"), 1.0),
        (pricing.get("prompt"), 1e6), (fields.get("input_cost_per_token"), 1e6),
    )  # fmt: skip
    price_out = _first_price(
        (fields.get("price_out_per_mtok"), 1.0), (fields.get("output_price_per_mtok"), 1.0),
        (fields.get("output_cost_per_million"), 1.0), (pricing.get("output"), 1.0),
        (pricing.get("completion"), 1e6), (fields.get("output_cost_per_token"), 1e6),
    )  # fmt: skip
    return Listed(model_id, context, output, price_in, price_out, _capabilities(fields))


def _valid_id(value: Any) -> bool:
    """A model id we can route by and name in a header (config.model_name_ok)."""
    return model_name_ok(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and 0 < len(value) <= _MAX_NUMBER_CHARS:
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _first_tokens(*values: Any) -> int | None:
    for v in values:
        n = _number(v)
        if n is not None and 1 <= n <= MAX_MODEL_TOKENS and n == int(n):
            return int(n)
    return None


def _first_price(*pairs: tuple[Any, float]) -> float | None:
    """USD per 1M tokens from the first usable (value, multiplier to per-1M) pair."""
    for value, scale in pairs:
        n = _number(value)
        if n is not None and n * scale <= MAX_PRICE_PER_MTOK:
            return round(n * scale, 9)  # per-token strings times 1e6 carry float noise
    return None


def _capabilities(fields: Mapping[str, Any]) -> frozenset[str]:
    caps = {"chat"}
    arch = fields.get("architecture")
    modalities = (arch.get("input_modalities") if isinstance(arch, dict) else None) or fields.get(
        "input_modalities", fields.get("modalities")
    )
    if isinstance(modalities, dict):  # {"input": [...], "output": [...]}
        modalities = modalities.get("input")
    if isinstance(modalities, list) and "image" in modalities[:32]:
        caps.add("vision")
    params = fields.get("supported_parameters")
    if isinstance(params, list):
        params = params[:256]
        if "tools" in params:
            caps.add("tools")
        if "response_format" in params:
            caps.add("json")
        if "structured_outputs" in params:
            caps.update(_SCHEMA)
        # OpenRouter lists the parameters a model takes: one it leaves out is refused
        # (model_params.py; an OpenAI-protocol model takes them unless marked)
        for param, cap in (("logprobs", "logprobs"), ("reasoning", "reasoning-effort")):
            if param not in params:
                caps.add(without(cap))
    for flag, flag_caps in (("supports_vision", ("vision",)),
                            ("supports_function_calling", ("tools",)),
                            ("supports_response_schema", _SCHEMA)):  # fmt: skip
        if fields.get(flag) is True:
            caps.update(flag_caps)
    declared = fields.get("capabilities")
    names: list[Any] = []
    if isinstance(declared, list):
        names = declared[:64]
    elif isinstance(declared, dict):
        names = [
            k for k, v in list(declared.items())[:64]
            if v is True or (isinstance(v, dict) and v.get("supported") is True)
        ]  # fmt: skip
    for n in names:
        if isinstance(n, str) and n in _ALIASES:
            caps.update(_ALIASES[n])
        elif isinstance(n, str) and n in _MARKERS:  # the stored form's (to_json) markers
            caps.add(n)
    if isinstance(declared, dict):  # a capability Anthropic says the model lacks, marked so
        for key, implied in (("thinking", "thinking"), ("pdf_input", "pdf")):
            v = declared.get(key)
            if v is False or (isinstance(v, dict) and v.get("supported") is False):
                caps.add(without(implied))
        caps.update(_thinking_types(declared.get("thinking")))
    return frozenset(caps)


def _thinking_types(thinking: Any) -> list[str]:
    """Anthropic's listing per thinking type: `adaptive` supported or not, as the model's
    `adaptive-thinking` or its marker (either wins over what its family implies)."""
    types = thinking.get("types") if isinstance(thinking, dict) else None
    adaptive = types.get("adaptive") if isinstance(types, dict) else None
    supported = adaptive.get("supported") if isinstance(adaptive, dict) else None
    if supported is True:
        return [ADAPTIVE]
    return [without(ADAPTIVE)] if supported is False else []


def glob_match(pattern: str, name: str) -> bool:
    """`*` (any run) and `?` (one character) globs, case-sensitive, without regex.

    Without `?`: the literal pieces between stars, each found leftmost after the one before
    (str.find: linear in the name for these short pieces). With `?`: greedy two-pointer matching
    that remembers only the last `*`, O(len(pattern) * len(name)) at worst. Never exponential."""
    if "?" not in pattern:
        pieces = pattern.split("*")
        if len(pieces) == 1:
            return name == pattern
        head, *middle, tail = pieces
        if not name.startswith(head) or len(name) < len(head) + len(tail):
            return False
        at, end = len(head), len(name) - len(tail)
        for piece in middle:
            at = name.find(piece, at, end)
            if at < 0:
                return False
            at += len(piece)
        return name.endswith(tail)
    p = n = 0
    star, mark = -1, 0
    while n < len(name):
        if p < len(pattern) and pattern[p] == "*":
            star, mark = p, n
            p += 1
        elif p < len(pattern) and pattern[p] in ("?", name[n]):
            p += 1
            n += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            n = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def selected(name: str, include: list[str], exclude: list[str]) -> bool:
    """Whether an upstream's include/exclude globs let `name` into the pool (no include = all)."""
    if include and not any(glob_match(g, name) for g in include):
        return False
    return not any(glob_match(g, name) for g in exclude)
