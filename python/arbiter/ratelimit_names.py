"""An upstream's rate-limit headers under the names the client's surface reads.

OpenAI sends `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (a reset as a duration:
`6m0s`, `1.5s`, `20ms`); Anthropic `anthropic-ratelimit-{requests,tokens}-{limit,remaining,
reset}` (a reset as an RFC 3339 time). A client of one surface answered by a model of the other
reads them under its own names: a count as it is, a reset converted (a duration from now, or the
time it ends). Anthropic's `input-tokens` / `output-tokens` limits, which OpenAI lacks, reach
an OpenAI client under OpenAI's pattern (`x-ratelimit-{limit,remaining,reset}-input-tokens`),
so every rate-limit header it reads has its surface's prefix. The upstream names renamed are
listed in `x-arbiter-renamed-headers` (`x-arbiter-dropped` is the request's fields not sent);
a reset that cannot be read is passed on as it came, under its own name, and not listed. The
parsers walk the value once (no regex: the text is the upstream's).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final, Literal

Surface = Literal["openai", "anthropic"]
_OA: Final = "x-ratelimit-"
_AN: Final = "anthropic-ratelimit-"
_FIELDS: Final = ("limit", "remaining", "reset")
_KINDS: Final = ("requests", "tokens")
# OpenAI name <-> Anthropic name
_TO_AN: Final = {f"{_OA}{f}-{k}": f"{_AN}{k}-{f}" for f in _FIELDS for k in _KINDS}
_TO_OA: Final = {v: k for k, v in _TO_AN.items()} | {
    f"{_AN}{k}-{f}": f"{_OA}{f}-{k}" for f in _FIELDS for k in ("input-tokens", "output-tokens")
}  # Anthropic's per-direction token limits: OpenAI's pattern, as OpenAI has none
RENAMED: Final = "x-arbiter-renamed-headers"
_UNITS: Final = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_MAX_VALUE: Final = 64  # longer is no duration or time: passed on as it came


def for_surface(
    headers: dict[str, str], surface: Surface, now: float | None = None
) -> dict[str, str]:
    """`headers` (an upstream's, forwarded_headers'), the other protocol's rate-limit names
    renamed for `surface` (and listed in RENAMED); every other header as it is."""
    other, names = (_AN, _TO_OA) if surface == "openai" else (_OA, _TO_AN)
    for k in headers:  # a plain loop: any() over a generator cost ~4 us per answer
        if k.startswith(other):
            break
    else:
        return headers
    at = time.time() if now is None else now
    out: dict[str, str] = {}
    renamed = []
    for key, value in headers.items():
        name = names.get(key)
        if name is None:
            out[key] = value
            continue
        if key.endswith("reset") or "-reset-" in key:
            converted = _as_duration(value, at) if surface == "openai" else _as_time(value, at)
            if converted is None:
                out[key] = value  # unreadable: as it came, under its own name
                continue
            value = converted
        out[name] = value
        renamed.append(key)
    if renamed:
        out[RENAMED] = ", ".join(renamed)
    return out


def _as_time(duration: str, now: float) -> str | None:
    """OpenAI's reset duration (`1h2m3.5s`, `20ms`) as the RFC 3339 time it ends."""
    seconds = parse_duration(duration)
    if seconds is None:
        return None
    when = datetime.fromtimestamp(now + seconds, UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _as_duration(stamp: str, now: float) -> str | None:
    """Anthropic's reset time as OpenAI's duration from `now` (0s once it has passed)."""
    if len(stamp) > _MAX_VALUE:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    left = max(when.timestamp() - now, 0.0)
    if left < 1:
        return f"{round(left * 1000)}ms"
    minutes, seconds = divmod(left, 60)
    text = f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def parse_duration(text: str) -> float | None:
    """Seconds of a Go-style duration as OpenAI writes it (`6m0s`, `1.5s`, `20ms`); None when
    it is not one."""
    if not text or len(text) > _MAX_VALUE:
        return None
    total, i, n = 0.0, 0, len(text)
    while i < n:
        start = i
        while i < n and (text[i].isdigit() or text[i] == "."):
            i += 1
        number = text[start:i]
        unit_start = i
        while i < n and text[i].isalpha():
            i += 1
        unit = text[unit_start:i]
        if not number or unit not in _UNITS or number.count(".") > 1 or number == ".":
            return None
        total += float(number) * _UNITS[unit]
    return total
