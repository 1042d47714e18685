"""The `anthropic-version` header of a /v1/messages call, checked as Anthropic's API checks it.

Anthropic answers 400 `anthropic-version: header is required` without it and `anthropic-version:
"X" is not a valid version` for a value outside its published list (a repeated header reads as
its values joined by ", ", and is refused the same way). The anthropic SDKs send it on every call
(2023-06-01 before Python SDK 2.0, 2026-10-21 from it), so only a hand-written client meets
these answers, and a drop-in sidecar gives it the same 400 Anthropic would, in Anthropic's shape,
rather than accept what the real API refuses. The version does not change what Arbiter sends
upstream: an Anthropic upstream is always called with upstream/anthropic.py's API_VERSION.
"""

from __future__ import annotations

from collections.abc import Sequence

from arbiter.errors import InvalidRequest

HEADER = "anthropic-version"
# platform.claude.com/docs/en/api/versioning: the versions the Messages API takes
VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})


def check_version(values: Sequence[str]) -> None:
    """`values`: every `anthropic-version` header line of the request, in order."""
    if not values:
        raise InvalidRequest(
            f"{HEADER}: header is required (send e.g. '{HEADER}: 2023-06-01', as the anthropic "
            "SDKs do).",
            param=HEADER,
        )
    joined = ", ".join(values)
    if joined not in VERSIONS:
        shown = joined if len(joined) <= 64 else joined[:64] + "..."
        raise InvalidRequest(
            f'{HEADER}: "{shown}" is not a valid version (valid: {", ".join(sorted(VERSIONS))}).',
            param=HEADER,
        )
