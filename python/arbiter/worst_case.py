"""A request's worst case in tokens, for budget reservations: everything the upstream can bill.

Prompt: every text the request sends counted with a real tokenizer (`types.count_tokens`): message
text parts, names, assistant tool calls and their arguments, tool results, the `tools` /
`functions` schemas and a structured-output schema, serialized as JSON (the upstream renders them
into the prompt; the JSON is at least as long), plus a worst case per image part (the model's
image rule's bound, image_rules.ImageRule.bound: OpenAI's low detail its fixed count, an inline
image by the size its header says, the rule's ceiling where the size is unknown; or
`budgets.image_tokens` for every model when the operator sets it) and OpenAI's per-message
framing. An `input_audio` clip counts by the
longest it can play (media.audio_ceiling_tokens: its bytes at 8 kbit/s, 10 tokens a second), not
as its base64 text: tokenized, 3 MB of MP3 (~200 s, ~2,000 tokens billed) reserved 2.9 million
tokens (and 0.7 s of CPU), a 429 on any modest cap. Anything else in a content part (files) is
counted as its serialized JSON. Output: all `n` choices at the output limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from arbiter.config import ModelSettings
from arbiter.image_rules import ImageRule, ImageSpec
from arbiter.media import audio_ceiling_tokens, image_bound_spec
from arbiter.prompt_ratio import scaled
from arbiter.protocols.anthropic_cache_control import asks_caching, asks_hour_caching
from arbiter.routing_fast import KEEPS_THINKING
from arbiter.server_tool_worst import (
    fees,
    iterations,
    loop_read,
    results_bound,
    web_fetches,
    web_searches,
)
from arbiter.server_tools import acting
from arbiter.types import ChatRequest, Usage, count_tokens
from arbiter.upstream.usage_counts import prompt_bound

PER_MESSAGE = 4  # <|start|>role<|message|> ... <|end|> framing, as OpenAI's cookbook counts it
PER_REPLY = 3  # the assistant reply's priming
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})
_OFF_LOOP_CHARS = 32_768  # bigger prompts are tokenized in a thread (the kernel drops the GIL)
_OFF_LOOP_IMAGE_CHARS = 256 * 1024  # inline image data whose headers are read in a thread
# a body with more messages is walked for its images in a thread with no look first: the look
# is itself a walk of every message (100,000 tiny ones: ~0.1 s on the loop)
_OFF_LOOP_MESSAGES = 1024


def prompt_parts(body: dict[str, Any]) -> tuple[list[str], int, int]:
    """(the texts the prompt is made of, the number of image parts, audio clips' tokens)."""
    texts: list[str] = []
    images = 0
    audio = [0]  # _content adds each clip's ceiling
    messages = body.get("messages")
    for msg in messages if isinstance(messages, list) else ():
        if not isinstance(msg, dict):
            texts.append(_json(msg))
            continue
        for key, value in msg.items():
            if key == "content":
                images += _content(value, texts, audio)
            elif isinstance(value, str):
                texts.append(value)  # role, name, tool_call_id, refusal
            elif value is not None:
                texts.append(_json(value))  # tool_calls, function_call, audio: as sent
    for key in ("tools", "functions", "response_format", "tool_choice", "prediction"):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            texts.append(_json(value))
    return texts, images, audio[0]


def _content(value: Any, texts: list[str], audio: list[int]) -> int:
    if isinstance(value, str):
        texts.append(value)
        return 0
    if not isinstance(value, list):
        if value is not None:
            texts.append(_json(value))
        return 0
    images = 0
    for part in value:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _IMAGE_PARTS:
            images += 1
        elif kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_audio" and isinstance(clip := part.get("input_audio"), dict):
            data = clip.get("data")
            if isinstance(data, str):
                audio[0] += audio_ceiling_tokens(data)
                clip = {**clip, "data": ""}  # its format and any other field, as sent
            texts.append(_json({**part, "input_audio": clip}))
        else:
            texts.append(_json(part))
    return images


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # not JSON-serializable (cannot come from a parsed body): count its repr
        return repr(value)


def image_parts(body: dict[str, Any]) -> list[ImageSpec]:
    """The image parts the body's messages carry (what `prompt_parts` counts, no text), each
    with its size where its inline header tells it and its detail (media.image_bound_spec)."""
    messages = body.get("messages")
    out: list[ImageSpec] = []
    for msg in messages if isinstance(messages, list) else ():
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list):
            out.extend(
                image_bound_spec(p)
                for p in content
                if isinstance(p, dict) and p.get("type") in _IMAGE_PARTS
            )
    return out


def _inline_image_chars(body: dict[str, Any]) -> int:
    """How many characters the body's image URLs hold (a length per part: nothing is read)."""
    messages = body.get("messages")
    total = 0
    for msg in messages if isinstance(messages, list) else ():
        content = msg.get("content") if isinstance(msg, dict) else None
        for p in content if isinstance(content, list) else ():
            if isinstance(p, dict) and p.get("type") in _IMAGE_PARTS:
                spec = p.get("image_url")
                url = spec.get("url") if isinstance(spec, dict) else spec
                total += len(url) if isinstance(url, str) else 0
    return total


async def image_parts_off_loop(body: dict[str, Any]) -> list[ImageSpec] | None:
    """`image_parts`, in a worker thread when the body's inline images are big (each data URL's
    payload is copied and its header decoded: linear in them), else None: then CallWorst reads
    them on the loop when it is first asked, as cheap as the hand-off. A body of more than
    _OFF_LOOP_MESSAGES messages goes to the thread unlooked at."""
    messages = body.get("messages")
    many = isinstance(messages, list) and len(messages) > _OFF_LOOP_MESSAGES
    if not many and _inline_image_chars(body) <= _OFF_LOOP_IMAGE_CHARS:
        return None
    return await asyncio.to_thread(image_parts, body)


def images_bound(images: list[ImageSpec], rules: list[ImageRule], flat: int | None) -> int:
    """The most `images` can bill on whichever of `rules` they go to (each image's highest
    bound: `auto` has no model yet), or `flat` tokens each (`budgets.image_tokens`)."""
    if flat is not None:
        return flat * len(images)
    return sum(max(r.bound(i) for r in rules) for i in images) if rules else 0


def prompt_tokens(body: dict[str, Any], image_tokens: int) -> int:
    """Worst-case prompt tokens of `body` (see the module docstring)."""
    texts, images, audio = prompt_parts(body)
    messages = body.get("messages")
    framing = PER_MESSAGE * (len(messages) if isinstance(messages, list) else 0) + PER_REPLY
    return count_tokens(texts) + images * image_tokens + audio + framing


async def prompt_tokens_async(body: dict[str, Any], image_tokens: int) -> int:
    """`prompt_tokens`, off the event loop when the prompt is large."""
    if sum(len(t) for t in prompt_parts(body)[0]) > _OFF_LOOP_CHARS:
        return await asyncio.to_thread(prompt_tokens, body, image_tokens)
    return prompt_tokens(body, image_tokens)


class CallWorst:
    """The worst case in USD of one upstream call of a request, per model: its prompt at the
    model's input price plus all `n` choices at the output limit (the request's max_tokens, else
    the model's own max_output_tokens) at its output price. Each image part counts
    `image_tokens`, or when None the model's image rule's bound (image_parts). The prompt
    (without its images) is tokenized once, on first use, unless given (`unviewed`: tokens
    `body` cannot show, added to its count;
    `kept_thinking`: earlier turns' thinking, added for a model that keeps it in context;
    `n`: the choices, when not the body's `n`: a legacy completion's are `n` per prompt;
    `learnt`: per model and o200k count, what its upstream bills for the text, a fixed part
    and a ratio learnt from its calls: prompt_ratio.py;
    `markup`: per model, how much more than its usage's price its upstream reports a call cost:
    cost_ratio.py; `sent`: the body as the client sent it, when `body` is a view without its
    `cache_control`)."""

    def __init__(
        self,
        models: Callable[[str], ModelSettings],
        body: dict[str, Any],
        max_tokens: int | None,
        image_tokens: int | None,
        prompt: int | None = None,
        unviewed: int = 0,
        kept_thinking: int = 0,
        n: int | None = None,
        learnt: Callable[[str, int], int] | None = None,
        images: list[ImageSpec] | None = None,
        markup: Callable[[str], float] | None = None,
        sent: dict[str, Any] | None = None,
    ) -> None:
        self._models = models
        self._body = body
        self._max_tokens = max_tokens
        self._image_tokens = image_tokens
        self._prompt = prompt
        self._unviewed = unviewed
        self._kept_thinking = kept_thinking
        self._n = choices(body) if n is None else n
        self._images = images  # None: walked when first asked (image_parts_off_loop's)
        self._learnt = learnt
        self._markup = markup
        self._sent = body if sent is None else sent  # as the client sent it: its cache_control
        self._caching: bool | None = None  # asks for a prompt cache write (read once)
        self._hour: bool | None = None  # asks for a 1-hour cache write (read once)
        self._audio: tuple[int, bool] | None = None  # (clips' tokens, asks spoken output)
        self._server: bool | None = None  # the provider runs tools of its own (read once)

    @property
    def prompt_tokens(self) -> int:
        """The prompt's worst case without its image parts (priced per model: `prompt_on`)."""
        if self._prompt is None:
            self._prompt = prompt_tokens(self._body, 0) + self._unviewed
        return self._prompt

    def prompt_on(self, model: ModelSettings) -> int:
        """The prompt's worst case on `model`: its images at the model's bound for each (its
        size and detail where known, else the rule's ceiling), or `image_tokens` each."""
        if self._images is None:
            self._images = image_parts(self._body)
        if not self._images:
            return self.prompt_tokens
        return self.prompt_tokens + images_bound(
            self._images, [model.image_rule], self._image_tokens
        )

    def output_tokens(self, model: ModelSettings) -> int:
        return self._n * (self._max_tokens or model.max_output_tokens)

    @property
    def choices(self) -> int:
        return self._n

    @property
    def caching(self) -> bool:
        """The request asks for a prompt cache write (Anthropic's `cache_control`): a prompt
        written costs up to 2x the input price (probe23b: holds at the input price let a burst
        of such calls pass a cap by 4 calls)."""
        if self._caching is None:
            self._caching = asks_caching(self._sent)
        return self._caching

    @property
    def hour_caching(self) -> bool:
        """The request asks for a 1-hour cache write: priced at the model's 1-hour write price
        (2x the input's unless configured), even where no 5-minute price is set."""
        if self._hour is None:
            self._hour = self.caching and asks_hour_caching(self._sent)
        return self._hour

    def audio(self) -> tuple[int, bool]:
        """The prompt's `input_audio` clips' tokens (their ceiling, in `prompt_tokens` too) and
        whether the request asks for spoken output (`modalities` naming audio): what a model
        with audio prices bills at them (walked once, for such a model only)."""
        if self._audio is None:
            self._audio = spoken_audio(self._body)
        return self._audio

    @property
    def fast(self) -> bool:
        """The request asks for the model's fast mode (OpenAI's `service_tier` "priority" or
        "fast", Anthropic's `speed: "fast"`), billed at a multiple of the standard prices."""
        return asks_fast(self._sent)

    @property
    def _acting(self) -> bool:
        """The provider runs tools of its own for it (read once: most requests have none)."""
        if self._server is None:
            self._server = acting(self._sent) is not None
        return self._server

    def web_searches(self, m: ModelSettings) -> int:
        """The most web searches the request lets the upstream run and bill on `m`: its web
        search tools' `max_uses`, `m.web_search_uses` for one without (server_tool_worst.py)."""
        return web_searches(self._sent, m.web_search_uses) if self._acting else 0

    def iterations(self, m: ModelSettings) -> int:
        """How many times the upstream may read the prompt in one call on `m`: its server
        tools' loop (server_tool_worst.py), 1 without."""
        return iterations(self._sent, m.web_search_uses) if self._acting else 1

    def _loop_read(self, m: ModelSettings, prompt: int) -> int:
        """The input tokens one call on `m` may bill for a `prompt`: once without server
        tools, else the loop's reads (server_tool_worst.loop_read)."""
        later = self.iterations(m) - 1
        if not later:
            return prompt
        results = results_bound(self._sent, m.web_search_uses, m.web_search_result_tokens)
        return loop_read(prompt, self.output_tokens(m), m.context_window, later, results)

    def prompt_limit(self, m: ModelSettings) -> int:
        """The most input tokens a usage of one call on `m` is believed to count: the prompt
        bound (usage_counts.prompt_bound) once per server-tool iteration."""
        return prompt_bound(m.context_window) * self.iterations(m)

    def _audio_parts(self, m: ModelSettings) -> tuple[int, int]:
        """The prompt's and the output's tokens `m` may bill at its audio prices: the clips,
        and every output token when spoken output is asked; none where its audio price is not
        dearer than the text's (the text's is then the worst case)."""
        audio_in, audio_out = m.price_audio_in_per_mtok, m.price_audio_out_per_mtok
        if audio_in is None and audio_out is None:
            return 0, 0
        clips, speech = self.audio()
        heard = clips if audio_in is not None and audio_in > m.price_in_per_mtok else 0
        dear = speech and audio_out is not None and audio_out > m.price_out_per_mtok
        return heard, self.output_tokens(m) if dear else 0

    def __call__(self, model: str) -> float:
        cost = self.unmarked(model)
        # its upstream reports calls dearer than their usage's price (cost_ratio.py)
        return cost * self._markup(model) if self._markup is not None else cost

    def unmarked(self, model: str) -> float:
        """The worst case at the registry's prices, without the learnt markup: what a reported
        cost is judged by (cost_report.py; else one believed 90x report made 9,000x ones
        believable)."""
        m = self._models(model)
        kept = self._kept_thinking if KEEPS_THINKING in m.capabilities else 0
        prompt = self.prompt_on(m) + kept
        # the upstream counts text longer than o200k (prompt_ratio.py: a configured ratio, a
        # learnt fixed part and ratio); images are counted by their own rule, not scaled
        text = self.prompt_tokens + kept
        billed = scaled(text, m.prompt_token_ratio)
        if self._learnt is not None:
            billed = max(billed, self._learnt(model, text))
        prompt += billed - text
        heard, spoken = self._audio_parts(m)
        searches = self.web_searches(m)
        fetched = web_fetches(self._sent, m.web_search_uses) if self._acting else 0
        # a server tool loop reads the prompt again each iteration, with the output and what
        # its tools found: bounded by the results' sizes, else the context window
        # (server_tool_worst.py)
        read = self._loop_read(m, prompt)
        cost = m.cost_usd(read, self.output_tokens(m), 0, 0, 0, heard, spoken, searches, fetched)
        if self.caching and (m.price_cache_write_per_mtok is not None or self.hour_caching):
            # the whole prompt may be written to the cache, billed at its write price (the
            # 1-hour cache's where the request asks for it: 2x the input's unless configured)
            hour = prompt if self.hour_caching else 0
            written = m.cost_usd(
                read, self.output_tokens(m), 0, prompt, hour, 0, 0, searches, fetched
            )
            cost = max(cost, written)
        if self.fast:  # billed at its fast mode's prices
            cost *= m.fast_factor
        return cost + self._fees(m)

    def _fees(self, m: ModelSettings) -> float:
        """What the call may bill beside its tokens (server_tool_worst.fees): none unless the
        provider acts for it."""
        return fees(self._sent, m) if self._acting else 0.0

    def capped(self, model: str, output_tokens: int, counted: Usage | None = None) -> float:
        """A call that generated `output_tokens` (a stream we cut), never above its worst case:
        its input as the upstream `counted` it while the answer ran (cache parts priced as
        such), else the prompt's worst-case count."""
        m = self._models(model)
        heard, spoken = self._audio_parts(m)  # spoken: what was generated may all be speech
        spoken = output_tokens if spoken else 0
        if counted is not None and counted.prompt_tokens:
            cost = m.cost_usd(
                counted.prompt_tokens, output_tokens, counted.cache_read_tokens,
                counted.cache_write_tokens, counted.cache_write_1h_tokens, heard, spoken,
            )  # fmt: skip
        else:
            kept = self._kept_thinking if KEEPS_THINKING in m.capabilities else 0
            cost = m.cost_usd(self.prompt_on(m) + kept, output_tokens, 0, 0, 0, heard, spoken)
        if self.fast:
            cost *= m.fast_factor
        # the fees are the caller's to add (call_pricing.call_cost), as for a usage's bill
        return min(cost, self(model) - self._fees(m))


def asks_fast(body: dict[str, Any]) -> bool:
    """The request asks for its model's fast mode (OpenAI's `service_tier` "priority" or
    "fast", Anthropic's `speed: "fast"`)."""
    return body.get("service_tier") in ("priority", "fast") or body.get("speed") == "fast"


def spoken_audio(body: dict[str, Any]) -> tuple[int, bool]:
    """(the prompt's `input_audio` clips' tokens, whether spoken output is asked)."""
    modalities = body.get("modalities")
    spoken = isinstance(modalities, list) and "audio" in modalities
    return prompt_parts(body)[2], spoken


def billed_apart(req: ChatRequest) -> tuple[int, bool, bool]:
    """(audio clips' tokens, spoken output asked, fast mode asked) of `req`: what routing's
    estimate prices at a model's audio prices and fast multiple (RouteRequest), as the worst
    case and the bill do. The messages are walked for clips only when the request has audio."""
    audio, spoken = spoken_audio(req.budget_body or req.body) if req.has_audio else (0, False)
    return audio, spoken, asks_fast(req.body)


def choices(body: dict[str, Any]) -> int:
    """How many choices the upstream will generate (and bill): `n`, default 1."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
