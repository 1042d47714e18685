"""Protocol-neutral request, response and stream types: what every surface decodes into and
every provider encodes from (protocols/*.py hold the codecs; this module holds no wire format).

Conventions that both codecs rely on:
- Tool-call arguments stay JSON *text* (OpenAI sends text, possibly partial while streaming);
  the Anthropic codec parses it into an `input` object only when it must.
- `CanonicalUsage.input_tokens` counts uncached input, as Anthropic does; the cache counts are
  separate. OpenAI's `prompt_tokens` is their sum (`prompt_tokens` below).
- A stop reason is one of `StopReason`; each codec maps its own vocabulary onto it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from arbiter.errors import ArbiterError

Protocol: TypeAlias = Literal["openai", "anthropic"]
Role: TypeAlias = Literal["user", "assistant"]
StopReason: TypeAlias = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """Inline base64 `data` with its `media_type`, or a `url` (http(s); never fetched here).
    `detail`: OpenAI's image detail level as the client asked it (`low`, `high`, `auto`), sent
    on to OpenAI models (it sets what the image costs); Anthropic's API has none."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class AudioPart:
    """OpenAI `input_audio`: base64 `data` in `format` (wav, mp3). Anthropic has no audio input."""

    data: str
    format: str


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """`content`: text and images; from an Anthropic client also the blocks only Anthropic
    takes there (a Files API image or document, a search result), as OpaqueParts."""

    tool_call_id: str
    content: tuple[TextPart | ImagePart | OpaquePart, ...]
    is_error: bool = False

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class OpaquePart:
    """A valid block of one protocol that has no counterpart in the other (Anthropic's document
    or thinking blocks, OpenAI's file parts). Kept so the request still decodes; untranslatable()
    refuses to send it to the other protocol."""

    protocol: Protocol
    kind: str
    data: dict[str, Any] = field(hash=False, compare=True)


Part: TypeAlias = TextPart | ImagePart | AudioPart | ToolCallPart | ToolResultPart | OpaquePart
ContentPart: TypeAlias = TextPart | ToolCallPart  # what an answer carries
THINKING_KINDS = frozenset({"thinking", "redacted_thinking"})  # Anthropic's thinking blocks


def is_thinking(part: Part) -> bool:
    return isinstance(part, OpaquePart) and part.kind in THINKING_KINDS


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]


def current_turn_start(messages: Sequence[Message]) -> int:
    """Where the assistant turn in progress begins: after the last user message that holds no
    tool result (one that does continues a tool-use loop, whose thinking the model still sees;
    the thinking of every earlier turn is not in its context)."""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.role == "user" and not any(isinstance(p, ToolResultPart) for p in m.parts):
            return i + 1
    return 0


@dataclass(frozen=True, slots=True)
class Tool:
    """A function tool. `builtin` names a provider-side tool type (Anthropic's `web_search_...`,
    OpenAI's `custom`): valid in its own protocol only, untranslatable elsewhere. `strict`:
    OpenAI's strict function calling (arguments decoded constrained to `parameters`) as the
    client set it, None when it did not say."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict, hash=False)
    builtin: str | None = None
    strict: bool | None = None

    @property
    def named(self) -> bool:
        """Whether `name` is the tool's own: a provider-side tool without a `name` (a toolset,
        OpenAI's `custom`) goes by a stand-in (its server's name or its type), no name a
        `tool_choice` or a call can use."""
        return self.builtin is None or "name" in self.parameters


@dataclass(frozen=True, slots=True)
class ToolChoice:
    kind: Literal["auto", "none", "any", "named"] = "auto"
    name: str | None = None  # for kind == "named"


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    kind: Literal["json_object", "json_schema"]
    schema: dict[str, Any] | None = field(default=None, hash=False)
    name: str | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    model: str
    messages: tuple[Message, ...]
    source: Protocol
    system: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None  # False = at most one tool call per turn
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    response_format: ResponseFormat | None = None
    user: str | None = None  # OpenAI `user` / Anthropic `metadata.user_id`
    # Top-level fields of the source protocol this type does not model, kept as sent: relayed
    # unchanged to a same-protocol upstream; for another protocol see untranslatable().
    extras: dict[str, Any] = field(default_factory=dict, hash=False)

    def text(self) -> str:
        """System and message text, for classification and token estimates."""
        out = list(self.system)
        for msg in self.messages:
            for part in msg.parts:
                if isinstance(part, TextPart | ToolResultPart):
                    out.append(part.text)
        return "\n".join(out)

    @property
    def has_images(self) -> bool:
        return any(
            isinstance(p, ImagePart)
            or (isinstance(p, ToolResultPart) and any(_is_image(c) for c in p.content))
            or _is_image(p)
            for m in self.messages
            for p in m.parts
        )

    @property
    def has_pdf(self) -> bool:
        """An Anthropic `document` block that holds or may hold a PDF (base64, linked, or a
        Files API file: its type is the upstream's to know, and a PDF is what most are; a text
        or content document is not), or an OpenAI `file` part (Chat Completions and the
        Responses API take PDFs there), at the top level or in a tool result."""
        return any(
            _is_pdf(p) or (isinstance(p, ToolResultPart) and any(_is_pdf(c) for c in p.content))
            for m in self.messages
            for p in m.parts
        )


def _is_pdf(part: Any) -> bool:
    if not isinstance(part, OpaquePart):
        return False
    if part.kind == "file":
        return part.protocol == "openai"
    if part.kind != "document":
        return False
    source = part.data.get("source")
    if not isinstance(source, dict):
        return False
    kind = source.get("type")
    return kind in ("url", "file") or (
        kind == "base64" and source.get("media_type") == "application/pdf"
    )


def _is_image(part: Part) -> bool:
    """An inline or linked image, or an image from Anthropic's Files API."""
    return isinstance(part, ImagePart) or (
        isinstance(part, OpaquePart) and part.kind == "image file"
    )


@dataclass(frozen=True, slots=True)
class CanonicalUsage:
    input_tokens: int = 0  # uncached input
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    # of `output_tokens`, those the model spent reasoning (OpenAI's
    # completion_tokens_details.reasoning_tokens): what the Responses API reports as such
    reasoning_tokens: int = 0
    # the cost the upstream reported in its usage (`usage.cost`, OpenRouter's style), carried
    # through a translation so a streamed answer's final usage says it as the body's does
    cost: float | None = None
    # of `cache_creation_input_tokens`, those written to Anthropic's 1-hour cache (its usage's
    # cache_creation.ephemeral_1h_input_tokens; billed 2x the input price, the 5-minute's 1.25x):
    # kept so a cached answer's saving prices them so and a hit's usage says the split
    cache_creation_1h_input_tokens: int = 0
    # every count the upstream sent was a count (count_in read a negative, fractional or huge
    # one as 0): False, a client is shown Arbiter's counts instead (relayed_usage.canonical_shown)
    counted: bool = True

    @property
    def prompt_tokens(self) -> int:
        """All input tokens, cached or not (OpenAI's `prompt_tokens`)."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


# The most one call's token count can be (upstream/http.py says why; it reads it from here): past
# it an upstream's number is no count, and reads as none (0), as an absent or negative one does.
MAX_CALL_TOKENS = 100_000_000


def count_in(value: Any) -> int:
    """An upstream's token count as a count: a positive integer up to MAX_CALL_TOKENS, else 0.
    A translated answer showed 10^13 as its client's count (the bill never believed it)."""
    return value if type(value) is int and 0 < value <= MAX_CALL_TOKENS else 0


def all_counts(values: Any) -> bool:
    """Each of `values` absent (None) or a count a client can read as one: 0 to MAX_CALL_TOKENS."""
    return all(v is None or (type(v) is int and 0 <= v <= MAX_CALL_TOKENS) for v in values)


def whole_usage(usage: CanonicalUsage, raw: Any, keys: tuple[str, str]) -> CanonicalUsage:
    """A whole answer's `usage` (read from `raw`) without one of its two counts (`keys`: none
    sent at all, a lenient server) is not counted: its client is shown Arbiter's counts, those
    the bill was made from (relayed_usage.canonical_shown), not 0 for a call it was billed for
    (probe27c: a Response, or a translated chat or messages answer, said 0 and 0)."""
    if isinstance(raw, dict) and all(raw.get(k) is not None for k in keys):
        return usage
    return dataclasses.replace(usage, counted=False)


def reported_cost(usage: dict[str, Any]) -> float | None:
    """A usage object's numeric `cost`, else None (bool is an int to Python, never a cost)."""
    cost = usage.get("cost")
    return float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None


@dataclass(frozen=True, slots=True)
class Thought:
    """An Anthropic thinking block of an answer, kept only for a client that shows it (the
    Responses API's reasoning item; never the answer's text). `at`: the place in the answer's
    `parts` it came before; `signature`: Anthropic's, which must come back with the block, as
    it came, in a tool-use loop's next turn; `redacted`: a redacted_thinking block's data (then
    there is no text)."""

    at: int
    text: str
    signature: str = ""
    redacted: str = ""


@dataclass(frozen=True, slots=True)
class CanonicalResponse:
    id: str
    model: str
    parts: tuple[ContentPart, ...]
    stop_reason: StopReason | None
    usage: CanonicalUsage = CanonicalUsage()
    stop_sequence: str | None = None
    # the model's refusal (OpenAI's `message.refusal`), also the last text part of `parts`
    # for the protocols with no field of their own; the Responses API shows it as its own part
    refusal: str | None = None
    thoughts: tuple[Thought, ...] = ()  # only when the decoder was asked for them

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


# -- stream events: Anthropic's event grammar, which is the stricter of the two ----------------
# message_start, then blocks in index order (start, deltas, stop; one open at a time), then one
# message_delta and message_stop. A StreamError ends the stream instead.


@dataclass(frozen=True, slots=True)
class MessageStart:
    id: str
    model: str
    usage: CanonicalUsage = CanonicalUsage()  # what is known up front (Anthropic: input)


@dataclass(frozen=True, slots=True)
class BlockStart:
    """`refusal`: the model's refusal text (OpenAI's `delta.refusal`), its deltas TextDeltas.
    Encoders with no refusal form of their own render it as a text block. `thinking`: an
    Anthropic thinking block, its deltas ThinkingDeltas; only a decoder asked for them makes
    them (the Responses API shows them as a reasoning item), other encoders skip them."""

    index: int
    kind: Literal["text", "tool_use", "refusal", "thinking"]
    id: str | None = None  # tool_use only
    name: str | None = None  # tool_use only


@dataclass(frozen=True, slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """Thinking text (never the answer's: collectors reading TextDeltas do not see it), or its
    block's `signature` (Anthropic's signature_delta), or a redacted_thinking block's data."""

    index: int
    text: str
    signature: str = ""
    redacted: str = ""


@dataclass(frozen=True, slots=True)
class ToolArgsDelta:
    index: int
    partial_json: str


@dataclass(frozen=True, slots=True)
class BlockStop:
    """`cut`: the block did not end, the stream did (what was held for it is sent before the
    error): the Responses API shows its item `incomplete`."""

    index: int
    cut: bool = False


@dataclass(frozen=True, slots=True)
class MessageDelta:
    stop_reason: StopReason | None
    usage: CanonicalUsage
    stop_sequence: str | None = None
    # `max_tokens` because the model's context window filled (Mistral's `model_length`,
    # Anthropic's `model_context_window_exceeded`), not at the client's limit: told to the
    # client as `max_tokens` / `length`, but no answer the cache may keep (cache_path.py)
    window_filled: bool = False


@dataclass(frozen=True, slots=True)
class MessageStop:
    pass


@dataclass(frozen=True, slots=True)
class StreamError:
    """A failure after the stream began; each encoder renders it as its protocol's terminal
    error event (never as a normal end)."""

    error: ArbiterError


StreamEvent: TypeAlias = (
    MessageStart
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | ToolArgsDelta
    | BlockStop
    | MessageDelta
    | MessageStop
    | StreamError
)
