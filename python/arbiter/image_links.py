"""Media linked by URL, checked against the operator's `media.image_url_hosts` before routing:
images, and every other link a model server may fetch (Anthropic `document` sources, vLLM's
`audio_url` / `video_url` parts, a `file` part's `file_url`).

Arbiter never fetches a linked medium (it prices an image as 1024 x 1024), but the model's
server does: OpenAI and Anthropic from the public internet, a self-hosted vLLM from the
operator's own network, where `http://169.254.169.254/...` (cloud metadata),
`http://10.0.0.7:9200/` or `file:///etc/passwd` (vLLM reads local files when allowed) reach
what the client never could.
So, whatever the list says, a link must be http(s), name a host and carry no user:password (the
`https://trusted@evil/` confusion); and by default (`["*"]`: any public host) a literal IP that
is not globally routable (loopback, private, link-local, CGNAT, unspecified, multicast, an
IPv4-mapped one of those), a numeric host resolvers read as an IP (`2130706433`, `0x7f.1`) and
names that only mean something inside a network (`localhost`, `*.local`, `*.internal`,
`*.localdomain`, `*.home.arpa`) are refused: no public provider can reach them, and a self-hosted
one should not be asked to. An operator who links images from inside lists those hosts or
networks explicitly; `[]` refuses every link. Names are not resolved here (no I/O on the request
path): a public name pointing inside is the fetching server's to refuse (vLLM's
`--allowed-media-domains`).

Each refusal is the caller's 400 naming the part (`param`), in its surface's shape.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from arbiter.errors import InvalidRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """`media.image_url_hosts`, parsed once: any public host (`*`), exact names, `*.suffix`
    subdomains, and IP networks allowed even when not public."""

    public: bool
    names: frozenset[str]
    suffixes: tuple[str, ...]
    networks: tuple[Network, ...]


def parse_hosts(entries: Sequence[str]) -> HostPolicy:
    """The policy, or ValueError naming the first entry that is none of `*`, a host name,
    `*.name` or an IP address / network."""
    public, names, suffixes, networks = False, set(), [], []
    for raw in entries:
        entry = raw.strip().lower().rstrip(".")
        if entry == "*":
            public = True
        elif entry.startswith("*.") and _is_name(entry[2:]):
            suffixes.append(entry[1:])
        elif _is_name(entry) and not _numeric(entry):
            names.add(entry)
        else:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                raise ValueError(
                    f"{raw[:60]!r} is not '*', a host name, '*.domain' or an IP address or network"
                ) from None
    return HostPolicy(public, frozenset(names), tuple(suffixes), tuple(networks))


def _is_name(host: str) -> bool:
    labels = host.split(".")
    return all(0 < len(x) <= 63 and set(x) <= _LABEL_CHARS for x in labels) and len(host) <= 253


def _numeric(host: str) -> bool:
    """A host whose last label is a number (no top-level domain is): resolvers read it as an
    IPv4 address in some form (`2130706433`, `127.1`, `0x7f.0.0.1`)."""
    last = host.rsplit(".", 1)[-1]
    return last.isdigit() or (
        last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:])
    )


def refusal(url: str, policy: HostPolicy) -> str | None:
    """Why a linked medium's URL is refused, or None when the policy lets it through."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        _ = parts.port  # a port that is not a number: ValueError
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return f"its scheme {parts.scheme[:20]!r} is not http or https"
    if not host:
        return "it names no host"
    if parts.username is not None or parts.password is not None:
        return "it carries a user name or password"
    host = host.rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if any(ip in net for net in policy.networks):
            return None
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        public = (mapped or ip).is_global and not (mapped or ip).is_multicast
        if policy.public and public:
            return None
        return f"the address {host} is not allowed" + ("" if public else " (not a public one)")
    if not _is_name(host) or _numeric(host):
        return f"its host {host[:60]!r} is not a host name or a dotted IP address"
    if host in policy.names or host.endswith(policy.suffixes):
        return None
    internal = host == "localhost" or host.endswith(_INTERNAL_SUFFIXES)
    if policy.public and not internal:
        return None
    return f"the host {host[:60]!r} is not allowed" + (" (an internal name)" if internal else "")


def check(links: Sequence[tuple[str, str]], policy: HostPolicy) -> None:
    """Each (param, url) linked medium against the policy, or the 400 naming the first refused."""
    for param, url in links:
        why = refusal(url, policy)
        if why is not None:
            raise InvalidRequest(
                f"'{param}': this gateway does not pass on this media URL: {why} "
                "(media.image_url_hosts; send the content inline as base64 data instead).",
                param=param,
            )


# -- the linked media of each surface's body, with the param that names each ---------------------
# Every URL a model server might fetch: images, and the documents, audio and video parts that
# self-hosted servers take (vLLM fetches `audio_url` and `video_url` as it fetches `image_url`).

_CHAT_LINKS = (  # a Chat Completions part's object -> the URL's key in it
    ("image_url", "url"),
    ("audio_url", "url"),  # vLLM's
    ("video_url", "url"),  # vLLM's
    ("file", "file_url"),  # the Responses API's field, forwarded as sent
)
_CHAT_KEYS = frozenset(name for name, _ in _CHAT_LINKS)


def _linked(url: Any) -> TypeGuard[str]:
    return isinstance(url, str) and url[:5].lower() != "data:"


def openai_chat_links(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Chat Completions: `messages[i].content[j].image_url.url`, and the same of `audio_url`,
    `video_url`, `file.file_url`; an `input_image` part's `image_url` (a string, vLLM's)."""
    out: list[tuple[str, str]] = []
    for i, msg in enumerate(_list(body.get("messages"))):
        for j, part in enumerate(_list(msg.get("content") if isinstance(msg, dict) else None)):
            # most parts are text: one C-level key test each (a long conversation has many)
            if isinstance(part, dict) and not _CHAT_KEYS.isdisjoint(part):
                out.extend(_chat_part_links(part, f"messages[{i}].content[{j}]"))
    return tuple(out)


def _chat_part_links(part: dict[str, Any], at: str) -> Iterator[tuple[str, str]]:
    # by key, whatever the part's `type` says: a server may read a part by either
    for name, key in _CHAT_LINKS:
        spec = part.get(name)
        if isinstance(spec, dict) and _linked(spec.get(key)):
            yield f"{at}.{name}.{key}", spec[key]
        elif name == "image_url" and _linked(spec):  # an `input_image` part's string
            yield f"{at}.image_url", spec


def openai_responses_links(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The Responses API: `input[i].content[j].image_url` (and a tool output's parts). An
    `input_file`'s `file_url` is refused whatever its host (it has no Chat Completions form)."""
    out: list[tuple[str, str]] = []
    for i, item in enumerate(_list(body.get("input"))):
        if not isinstance(item, dict):
            continue
        for key in ("content", "output"):
            for j, part in enumerate(_list(item.get(key))):
                url = part.get("image_url") if isinstance(part, dict) else None
                if _linked(url):
                    out.append((f"input[{i}].{key}[{j}].image_url", url))
    return tuple(out)


def anthropic_links(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Messages: an image's or a document's `source.url` (and an image's inside a document's
    `content` source), at the top level or in a tool result."""
    out: list[tuple[str, str]] = []
    for i, msg in enumerate(_list(body.get("messages"))):
        for j, block in enumerate(_list(msg.get("content") if isinstance(msg, dict) else None)):
            if not isinstance(block, dict):
                continue
            if block.get("type") in _LINKING_BLOCKS:
                out.extend(_block_links(block, f"messages[{i}].content[{j}]"))
            for k, nested in enumerate(_list(block.get("content"))):  # a tool result's
                out.extend(_block_links(nested, f"messages[{i}].content[{j}].content[{k}]"))
    return tuple(out)


_LINKING_BLOCKS = frozenset({"image", "document"})


def _block_links(block: Any, at: str) -> Iterator[tuple[str, str]]:
    if not isinstance(block, dict) or block.get("type") not in _LINKING_BLOCKS:
        return
    source = block.get("source")
    if not isinstance(source, dict):
        return
    if source.get("type") == "url" and _linked(source.get("url")):
        yield f"{at}.source.url", source["url"]
    if block["type"] == "document" and source.get("type") == "content":
        for k, part in enumerate(_list(source.get("content"))):  # text and image blocks
            if isinstance(part, dict) and part.get("type") == "image":
                yield from _block_links(part, f"{at}.source.content[{k}]")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
