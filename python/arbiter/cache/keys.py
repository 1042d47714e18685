"""Cache keys: what makes two requests "the same question".

The exact key is a hash of the tenant, the routing knobs of the caller (quality target and baseline
shape what `auto` picks), the per-key settings that shape the answer (the models the key may call,
and the output cap Arbiter injects when the key's budget caps apply and the client set none: a key-
scoped cap clamps one key's answers and not another's), the client's protocol and every request
field that shapes the answer: messages, system, tools, tool_choice, response_format, sampling
parameters (temperature, top_p, n, stop, seed, max_tokens, ...) and the requested model or `auto`,
and the client's `anthropic-beta` header (sent on to Anthropic upstreams, where a beta may change
the answer: longer outputs, other tool-call encodings). Only fields that change how an answer is
delivered, never what it says, are left out (`_DELIVERY`): `stream`, `stream_options`, the end-
user labels `user` / `metadata` / `safety_identifier` (OpenAI's successor of `user`), OpenAI's
`store` (`true` bypasses the cache: uncacheable; `false` is its absence), and the hints to the
provider's own serving (`prompt_cache_key`, `prompt_cache_retention`, `service_tier`; Anthropic's
`service_tier`, `inference_geo` (where it runs), `speed` (its fast mode: the same model, faster
output) and top-level `cache_control`), and the prompt-cache breakpoints and options inside the
body (key_hints.py). So a
streamed and a non-streamed request share an entry; the
answer is stored in canonical form and rendered in the client's protocol, streamed or not
(cache/answer.py).

Unknown fields are part of the key (a field we do not know may well shape the answer). Tool-call
ids are keyed by which result answers which call, not by their spelling (call_ids.py): each hit
answers with ids of its own, and the identical follow-ups of two agents must still match.

An image or document linked by URL is keyed by its URL, which need not name the same bytes twice;
such requests bypass the cache unless `cache.linked_media` is on (`links_media`).

The context key (semantic side) hashes the same view with the LAST user turn's text taken out
(its non-text parts stay in): two requests may share a semantic entry only when everything but
that text is identical, so "What about wheat?" after a corn question never matches a corn answer.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import orjson

from arbiter.cache.call_ids import without_call_ids
from arbiter.cache.key_hints import without_cache_hints
from arbiter.canonical import Protocol
from arbiter.errors import InvalidRequest
from arbiter.principal import Principal
from arbiter.server_tools import provider_side

# delivery only: never part of a key
# (a safety_identifier per end user kept a tenant's users from ever sharing an entry, as `user`
# never did; a prompt_cache_key split the cache it asks to raise the hits of)
_DELIVERY = frozenset({
    "stream", "stream_options", "user", "metadata", "safety_identifier", "prompt_cache_key",
    "prompt_cache_retention", "service_tier", "store", "inference_geo", "speed", "cache_control",
})  # fmt: skip
# answers the canonical form cannot hold (several choices, log-probabilities, reasoning blocks
# (`_thinks`), audio; citations, _asks_citations): such requests bypass the cache instead of
# being served a poorer answer
_UNCACHEABLE = ("logprobs", "top_logprobs", "audio", "modalities", "prediction")


class Keys(NamedTuple):
    exact: str
    context: str | None  # None: no last user turn to match on (semantic side bypassed)
    text: str | None  # the last user turn's text (what the semantic matcher embeds)


def _digest(prefix: bytes, view: dict[str, Any]) -> str:
    h = hashlib.blake2b(prefix, digest_size=16)
    h.update(orjson.dumps(view, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def _prefix(
    kind: bytes, protocol: Protocol, principal: Principal, clamp: int | None, beta: str | None
) -> bytes:
    allowed = None if principal.allowed_models is None else sorted(principal.allowed_models)
    knobs = (
        f"{principal.tenant}\0{principal.quality_target}\0{principal.baseline}\0{protocol}"
        f"\0{allowed}\0{clamp}"
    )
    if beta is not None:  # absent: the key every entry had before betas were in it
        knobs += f"\0beta={beta}"
    return kind + b"\0" + knobs.encode("utf-8", "surrogatepass") + b"\0"


def keys_for(
    protocol: Protocol,
    body: dict[str, Any],
    principal: Principal,
    clamp: int | None = None,
    beta: str | None = None,
) -> Keys:
    """`clamp`: the max_tokens Arbiter enforces on this request though the client set none
    (ChatRequest.limit_injected); it is not in the body, yet it truncates the answer. `beta`:
    the request's `anthropic-beta` header (request_log.anthropic_beta)."""
    view = without_cache_hints({k: v for k, v in body.items() if k not in _DELIVERY})
    messages = view.get("messages")
    if isinstance(messages, list):  # which result answers which call, not the ids' spelling
        messages = view["messages"] = without_call_ids(protocol, messages)
    exact = _digest(_prefix(b"exact", protocol, principal, clamp, beta), view)
    if not isinstance(messages, list) or not messages:
        return Keys(exact, None, None)
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return Keys(exact, None, None)
    text, rest = _split_text(last.get("content"))
    context_view = {**view, "messages": [*messages[:-1], {**last, "content": rest}]}
    context = _digest(_prefix(b"context", protocol, principal, clamp, beta), context_view)
    return Keys(exact, context, text)


def _split_text(content: Any) -> tuple[str, Any]:
    """(the text of a message's content, the content without its text parts)."""
    if isinstance(content, str):
        return content, ""
    if not isinstance(content, list):
        return "", content
    texts: list[str] = []
    rest: list[Any] = []
    for part in content:
        if (
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ):
            texts.append(part["text"])
            rest.append({k: v for k, v in part.items() if k != "text"})  # keeps cache_control
        else:
            rest.append(part)
    return "\n".join(texts), rest


def uncacheable(body: dict[str, Any]) -> str | None:
    """Why this request's answer cannot be served from (or stored in) the cache, or None."""
    n = body.get("n")
    if n is not None and n != 1:
        return "n > 1"
    for name in _UNCACHEABLE:
        if body.get(name):
            return name
    if _thinks(body.get("thinking")):
        return "thinking"
    if _asks_citations(body.get("messages")):
        return "citations"
    # the provider acts for it (searches, fetches, MCP calls: a hit would skip the actions) or
    # keeps the answer as an object of its own (`store: true`: a hit would give another's id)
    return provider_side(body)


def _thinks(thinking: Any) -> bool:
    """Whether Anthropic's `thinking` turns thinking on (`enabled`, `adaptive`, a type not
    known here): its answer has thinking blocks the canonical form does not hold. `disabled`
    (or none) answers as a request without it does, and is cached like one."""
    if not thinking:
        return False
    return not (isinstance(thinking, dict) and thinking.get("type") == "disabled")


def _asks_citations(messages: Any) -> bool:
    """A document or search result with `citations` enabled (Anthropic), at the top of a turn
    or inside a tool_result: the answer's text then carries citations, which the canonical
    answer does not hold (a hit replayed the text without them)."""
    if not isinstance(messages, list):
        return False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict):
                continue
            inner = block.get("content")  # a tool_result's blocks (one level: no deeper)
            if _cites(block) or (isinstance(inner, list) and any(map(_cites, inner))):
                return True
    return False


def _cites(block: Any) -> bool:
    citations = block.get("citations") if isinstance(block, dict) else None
    return isinstance(citations, dict) and citations.get("enabled") is True


def links_media(body: dict[str, Any]) -> bool:
    """Whether a message part (or a tool result's part) links an image or document by URL: an
    OpenAI `image_url` / `input_image` that is not a data URL, an Anthropic `source` of type
    `url`. The cache cannot see what such a URL serves, so by default it does not answer for it
    (`cache.linked_media`)."""
    messages = body.get("messages")
    for msg in messages if isinstance(messages, list) else ():
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list) and any(_links(part) for part in content):
            return True
    return False


def _links(part: Any, depth: int = 0) -> bool:
    if not isinstance(part, dict):
        return False
    kind = part.get("type")
    if kind in ("image_url", "input_image"):
        spec = part.get("image_url")
        url = spec.get("url") if isinstance(spec, dict) else spec
        return isinstance(url, str) and url[:5].lower() != "data:"
    source = part.get("source")
    if isinstance(source, dict) and source.get("type") == "url":
        return True
    inner = part.get("content")  # a tool result's parts
    return depth < 2 and isinstance(inner, list) and any(_links(p, depth + 1) for p in inner)


class Control(NamedTuple):
    read: bool  # may be served from the cache
    write: bool  # may be stored


ALL = Control(True, True)


DIRECTIVES = ("no-cache", "no-store")
# HTTP's other request directives (RFC 9111 5.2.1): a client may copy a whole Cache-Control
# value into Arbiter's header; they name no behaviour of this cache and are ignored
_HTTP_REQUEST_DIRECTIVES = frozenset({"max-age", "max-stale", "min-fresh", "no-transform",
                                      "only-if-cached"})  # fmt: skip


def check_directives(value: str, header: str) -> str:
    """`value` when each of its comma-separated directives is one `control` acts on or one of
    HTTP's other request directives (any case, spaces around them and empty items allowed);
    else the caller's 400 naming the ones that act (a typo like `nocache` was ignored)."""
    for token in value.split(","):
        directive = token.strip().lower()
        name = directive.partition("=")[0].rstrip()
        if directive and directive not in DIRECTIVES and name not in _HTTP_REQUEST_DIRECTIVES:
            raise InvalidRequest(
                f"'{header}' takes {' or '.join(repr(d) for d in DIRECTIVES)} (comma-separated; "
                f"HTTP's max-age, max-stale, min-fresh, no-transform and only-if-cached are "
                f"ignored); got {token.strip()[:64]!r}.",
                param=header,
            )
    return value


def from_pragma(value: str | None) -> str | None:
    """`no-cache` when a `pragma` header says so: with no Cache-Control in the request, HTTP
    caches treat `Pragma: no-cache` as `Cache-Control: no-cache` (RFC 7234 5.4; RFC 9111
    deprecates the header but old clients and proxies still send it). Other pragmas mean
    nothing here and are ignored, as any cache ignores them."""
    if not value:
        return None
    tokens = (t.strip().lower() for t in value[:256].split(","))
    return "no-cache" if "no-cache" in tokens else None


def control(value: str | None) -> Control:
    """`cache-control` / `x-arbiter-cache-control` request directives: `no-cache` = do not read
    (may write), `no-store` = neither. Other directives are ignored."""
    if not value:
        return ALL
    read = write = True
    for token in value[:256].split(","):
        directive = token.strip().lower()
        if directive == "no-store":
            read = write = False
        elif directive == "no-cache":
            read = False
    return Control(read, write)
