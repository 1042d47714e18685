"""A path appended to a configured base URL: to its path, before its query and fragment.

An upstream's `base_url` may carry a query its every call needs (Azure OpenAI's
`?api-version=2024-06-01`, a gateway's `?tenant=`); string concatenation put the path after the
query (`.../v1?api-version=x/models`), and the upstream saw neither the endpoint nor the
version. Config text only (never client or upstream text): urlsplit is linear.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def with_path(base_url: str, path: str) -> str:
    """`base_url` with `path` (starting with `/`) appended to its path, its query kept after:
    `https://h/v1?api-version=x` + `/models` -> `https://h/v1/models?api-version=x`."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


def path_of(base_url: str) -> str:
    """The path of `base_url`, without a trailing `/` (what `/v1` checks look at, not the query)."""
    return urlsplit(base_url).path.rstrip("/")
