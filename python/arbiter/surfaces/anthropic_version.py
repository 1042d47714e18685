"""The `anthropic-version` header of a /v1/messages call, checked as Anthropic's API checks it.

Anthropic answers 400 `anthropic-version: header is required` without it and `anthropic-version:
"X" is not a valid version` for a value outside its published list (a repeated header reads as
its values joined by ", ", and is refused the same way). The anthropic SDKs send it on every call
(2023-06-01 before Python SDK 2.0, 2026-10-21 from it), so only a hand-written client meets
these answers, and a drop-in sidecar gives it the same 400 Anthropic would, in Anthropic's shape,
rather than accept what the real API refuses. The version does not change what Arbiter sends
upstream: an Anthropic upstream is always called with upstream/anthropic.py's API_VERSION.

One difference on purpose: a well-formed date after the newest version listed here is taken. It
is what a newer SDK than this sidecar knows sends (the SDK moved 2023-06-01 -> 2026-10-21 once
already), and refusing every call of an upgraded client is worse than reading its request by the
newest rules Arbiter knows; a date between listed versions is refused, as Anthropic refuses it.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from arbiter.errors import InvalidRequest

HEADER = "anthropic-version"
# platform.claude.com/docs/en/api/versioning: the versions the Messages API takes
VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
NEWEST = max(VERSIONS)


def _newer_than_known(value: str) -> bool:
    """A YYYY-MM-DD calendar date after NEWEST (ISO dates order as strings)."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return value > NEWEST


def check_version(values: Sequence[str]) -> None:
    """`values`: every `anthropic-version` header line of the request, in order."""
    if not values:
        raise InvalidRequest(
            f"{HEADER}: header is required (send e.g. '{HEADER}: 2023-06-01', as the anthropic "
            "SDKs do).",
            param=HEADER,
        )
    joined = ", ".join(values)
    if joined not in VERSIONS and not _newer_than_known(joined):
        shown = joined if len(joined) <= 64 else joined[:64] + "..."
        raise InvalidRequest(
            f'{HEADER}: "{shown}" is not a valid version (valid: {", ".join(sorted(VERSIONS))}).',
            param=HEADER,
        )
