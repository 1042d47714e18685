"""Canonical internal request/response types shared by surfaces, the pipeline and upstreams."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arbiter import tokenizer_load
from arbiter.canonical import CanonicalRequest, Protocol
from arbiter.errors import ArbiterError
from arbiter.grading_hints import GradingHints
from arbiter.image_rules import ImageRule, ImageSpec

if TYPE_CHECKING:
    from arbiter.protocols.compat import Blocker
    from arbiter.relay_codec import RelayCodec

# (upstream protocol, model, decision id, created, the model's name shown: the upstream's) ->
# the codec that streams to this client
# (upstream protocol, model, decision id, created, shown model, the limits a shown usage is held
# to: relayed_usage.py)
StreamCodecFactory = Callable[
    [Protocol, str, str, int, str, "tuple[int, int] | None"], "RelayCodec"
]


@dataclass(slots=True)
class ChatRequest:
    """A parsed chat request. `body` is the client's JSON as sent: unknown fields are forwarded."""

    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    has_tools: bool = False
    has_images: bool = False
    has_audio: bool = False  # an input_audio part or spoken output: "audio" models only
    # Anthropic's extended thinking asked for (`thinking` enabled or adaptive), a PDF document:
    # "thinking" / "pdf" models only (request_checks.needs_of)
    wants_thinking: bool = False
    has_pdf: bool = False
    prompt_text: str = ""  # the text of the messages, for classification and difficulty
    # routing's count (media.py: o200k text, audio by duration, PDFs by pages) until the upstream
    # reports usage; without the images, whose tokens depend on the model: `images`, priced by
    # each model's rule (`prompt_tokens_on`)
    prompt_tokens: int = 0
    images: tuple[ImageSpec, ...] = ()
    # the media linked by URL (images, documents, vLLM's audio and video), each with the param
    # that names it (image_links.py): checked against media.image_url_hosts before routing
    linked_media: tuple[tuple[str, str], ...] = ()
    # max_tokens was not the client's: Arbiter enforces it (budgets), sent per model under the
    # name that model accepts (ModelSettings.max_tokens_param); the client's body is untouched
    limit_injected: bool = False
    protocol: Protocol = "openai"  # the client's: `body` is in its format
    # the protocol-neutral form, for models that speak the other protocol (decoded on demand)
    canonical: CanonicalRequest | None = None
    canonical_error: str | None = None  # why the body could not be decoded (then untranslatable)
    canonical_param: str | None = None  # the field that stopped it, as the client named it
    # what stops the request crossing to each other protocol (None: nothing) and the field that
    # carries it, once worked out (upstream_body._crossing)
    crossing: dict[Protocol, tuple[str | None, Blocker | None]] | None = None
    # what budget reservations count when it is not `body`: an Anthropic request's OpenAI view
    # (its top-level system prompt as a message, images as image parts)
    budget_body: dict[str, Any] | None = None
    # prompt tokens `budget_body` cannot show (an Anthropic PDF's pages, a Files API reference:
    # block_tokens.py), added to its count; already in prompt_tokens
    unviewed_tokens: int = 0
    # earlier turns' thinking (Anthropic), in neither: only models that keep it in context
    # (routing.KEEPS_THINKING) count it, for their context window and budget
    kept_thinking_tokens: int = 0
    # the request's `x-arbiter-cache-control` (else `cache-control`) header: no-cache, no-store
    cache_control: str | None = None
    # a surface whose stream format is neither protocol's own (the Responses API) gives its
    # codec here, and what its renderer needs in `surface_data`
    stream_codec: StreamCodecFactory | None = None
    surface_data: object = None
    # the caller's name for its structured-output field, where it is neither protocol's own
    # (the Responses API: `text.format`), for the errors that name it
    format_param: str | None = None
    # the caller's name for its conversation, for the errors that name it (the Responses API's
    # `input`: its requests have no `messages`)
    messages_param: str = "messages"
    # the caller's names for the view's other fields where its surface names them otherwise
    # (the Responses API's `reasoning.effort` is the view's `reasoning_effort`), for the errors
    # that name them
    view_params: Mapping[str, str] | None = None
    # test code sent with the request (x-arbiter-tests or the body's "arbiter": {"tests"}) that
    # the answer is run against in the sandbox (arbiter.sandbox); never sent upstream
    tests: str | None = None
    grading: GradingHints | None = None  # the caller's reference / n > 1 rule (grading_hints)
    # the body was over surfaces/decode.BIG_BODY_BYTES: work linear in it (its encoding for a
    # model of the other protocol, upstream_body.body_to_send) runs in a worker thread
    big_body: bool = False

    def prompt_tokens_on(self, rule: ImageRule) -> int:
        """Routing's prompt count on a model whose images cost what `rule` says."""
        return self.prompt_tokens + rule.total(self.images) if self.images else self.prompt_tokens

    def to_canonical(self) -> CanonicalRequest | None:
        """The canonical request (decoded from an OpenAI body the first time it is needed), or
        None when the body has something the protocol-neutral form cannot hold."""
        if self.canonical is None and self.canonical_error is None:
            from arbiter.protocols.openai import decode_request  # only when a model needs it

            try:
                self.canonical = decode_request(self.body)
            except ArbiterError as err:
                self.canonical_error, self.canonical_param = err.message, err.param
        return self.canonical


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported_cost_usd: float | None = None  # the upstream's own telemetry, when it sends one
    # Parts of prompt_tokens that were read from / written to the upstream's prompt cache
    # (Anthropic reports both; OpenAI only reads). prompt_tokens always counts all input.
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # the part of cache_write_tokens written to Anthropic's 1-hour cache (its usage's
    # cache_creation.ephemeral_1h_input_tokens), billed at the hour's price
    cache_write_1h_tokens: int = 0
    # the audio parts of prompt_tokens and completion_tokens (OpenAI's
    # `prompt_tokens_details.audio_tokens` / `completion_tokens_details.audio_tokens`)
    audio_in_tokens: int = 0
    audio_out_tokens: int = 0
    # the web searches the upstream ran for the call (Anthropic's
    # `server_tool_use.web_search_requests`), billed per search, not per token
    web_searches: int = 0
    # the web fetches it ran (`server_tool_use.web_fetch_requests`: Anthropic bills their
    # tokens, no fee; priced at the model's price_web_fetch_usd, 0 unless set)
    web_fetches: int = 0
    # the code executions it ran where the usage says (`server_tool_use.code_execution_requests`,
    # which gateways report; Anthropic's own usage does not: None); a call offered code execution
    # is billed a container session unless its usage counted none (server_tool_worst.fees)
    code_executions: int | None = None
    # served in the model's fast mode (OpenAI's priority processing: the answer's `service_tier`
    # "priority" or "fast"; Anthropic's fast mode: its usage's `speed: "fast"`), billed at a
    # multiple of the standard prices (the model's fast_factor)
    fast: bool = False
    # the upstream sent a usage whose counts were no counts (NaN, negative, past 10^8): none
    # kept, and the answer is priced from what it relayed (dropped_usage.py)
    counts_dropped: bool = False
    # a believable usage that left one of its two counts out (an Anthropic Message with
    # `input_tokens` alone, a chat completion without `completion_tokens`, or the reverse), or
    # both (no usage at all): that side is Arbiter's count, never 0, for an answer that finished
    # (dropped_usage.py, upstream/usage_counts.of_answer); an embeddings list has no output side
    prompt_missing: bool = False
    output_missing: bool = False
    # the output side missing because it was counted 0, not left out: a true count when the
    # answer relayed no text (dropped_usage.py: no `usage_dropped` then)
    output_zero: bool = False

    @property
    def one_sided(self) -> bool:
        return self.prompt_missing or self.output_missing


@dataclass(slots=True)
class ChatResult:
    """A complete (non-streaming, or reassembled streaming) upstream answer."""

    model: str
    body: dict[str, Any]  # the upstream's JSON, as returned (we only rewrite nothing but headers)
    content: str
    finish_reason: str | None
    usage: Usage
    latency_ms: float
    raw: bytes = b""  # the upstream's bytes, returned to the client unchanged
    protocol: Protocol = "openai"  # the wire format of `body` and `raw`
    # the upstream's request id and rate-limit headers, for the client (http.forwarded_headers)
    upstream_headers: dict[str, str] | None = None

    @property
    def shown_model(self) -> str:
        """The answer's `model` as a client reads it on every surface: the upstream's name for
        the model that answered (its answer's own, as a relayed body shows it), else Arbiter's
        (x-arbiter-model names Arbiter's always)."""
        named = self.body.get("model")
        return named if isinstance(named, str) and named else self.model


def estimate_tokens(text: str) -> int:
    """ceil(chars / 4): the usual rule of thumb for English prose (routing, context windows).
    It undercounts CJK text, code and JSON 2-4x: budgets use `count_tokens`."""
    return (len(text) + 3) // 4


def count_tokens(texts: list[str]) -> int:
    """Real token count of `texts` (OpenAI's o200k_base BPE, the Rust kernel); where the kernel is
    missing, or on the event loop before its tables are loaded (tokenizer_load.py: loading them
    there stalled every request), their UTF-8 byte length, which no byte-level BPE can exceed."""
    if not tokenizer_load.ready() and tokenizer_load.on_event_loop():
        tokenizer_load.start()
        return _byte_bound(texts)
    native: Callable[[list[str]], int] | None
    try:
        from arbiter._native import count_tokens as native
    except ImportError:
        native = None
    try:
        if native is not None:
            return native(texts)
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\\ud800"): not UTF-8 text
        pass
    return _byte_bound(texts)


def _byte_bound(texts: list[str]) -> int:
    return sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
