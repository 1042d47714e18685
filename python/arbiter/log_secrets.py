"""The serving config's secrets masked out of every log line (logs.py's formatters), and kept
out of the upstream headers relayed to clients (upstream/http.py's forwarded_headers).

An upstream's own words go to the operator log (upstream/http.py: its error prose never reaches
a client), and an upstream may quote the key it was sent: a proxy's 401 that echoes the
`Authorization` header, a debug error page listing the request's headers. The operator's
upstream key was then written whole to the warning log, where log shippers and whoever reads
them see it. Each line is now written with every known secret as `***`: the upstreams' keys,
the admin, dashboard and metrics keys, and a password in the store's, the budget webhook's or
an upstream's URL (its user info or a secret-named query value). Each config reload adds its
secrets, so a rotated key is masked from the moment it serves, and the key it replaced still
is (a request in flight may yet be answered with it quoted).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlsplit

import orjson

from arbiter.url_redaction import SECRET_QUERY_KEYS

if TYPE_CHECKING:
    from arbiter.config import Settings

MASK: Final = "***"
# shorter values are not masked: a 3-character key would turn every "abc" in the log into ***
# (and an operator key that short is guessed sooner than it is read from a log)
MIN_CHARS: Final = 8

_known: set[str] = set()  # every secret a config of this process has held
_secrets: tuple[str, ...] = ()  # their forms, longest first: one holding another is masked whole


def use(settings: Settings) -> None:
    """Mask `settings`' secrets from now on, besides those seen before (at start-up and after
    each reload)."""
    add(secrets_of(settings))


def add(values: Iterable[str]) -> None:
    """Mask `values` too (the writer process's child: the secrets its parent masks)."""
    global _secrets
    _known.update(v for v in values if v)
    _secrets = _forms(_known)


def known() -> list[str]:
    """Every secret masked so far (what a child process is told to mask)."""
    return sorted(_known)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value `settings` holds (unresolved ones are None and skipped)."""
    auth = settings.auth
    values = [up.api_key for up in settings.upstreams.values()]
    for up in settings.upstreams.values():  # a proxy's basic auth in its base_url
        values += url_secrets(up.base_url)
    values += [auth.admin_key, auth.dashboard_key, auth.metrics_key]
    values += url_secrets(settings.store.url) + url_secrets(settings.budgets.webhook_url)
    return [v for v in values if v]


def url_secrets(url: str | None) -> list[str]:
    """A URL's password and the values of its secret-named query parameters."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else []
    except ValueError:
        return []
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return found + [v for k, v in pairs if k.lower() in SECRET_QUERY_KEYS and v]


def _forms(values: Iterable[str]) -> tuple[str, ...]:
    """Each value as a log line may hold it: as is, and JSON-escaped (a value in a quoted
    field, or one with a character the formatters escape)."""
    out = set()
    for value in values:
        if len(value) >= MIN_CHARS:
            out.add(value)
            out.add(orjson.dumps(value).decode()[1:-1])
    return tuple(sorted(out, key=len, reverse=True))


def masked(line: str) -> str:
    """`line` with every secret as `***` (a substring search per secret: the usual line holds
    none, and costs well under a microsecond each)."""
    for secret in _secrets:
        if secret in line:
            line = line.replace(secret, MASK)
    return line


def without_secrets(headers: dict[str, str]) -> dict[str, str]:
    """`headers` (an upstream's, about to be relayed to a client) less any whose value holds a
    secret: an upstream may quote the key it was sent in its request id or a rate-limit header
    as well as in its error text. One pass over the values joined (a few hundred bytes), and a
    header-by-header one only when that finds a secret."""
    joined = "\n".join(headers.values())
    if not any(secret in joined for secret in _secrets):
        return headers
    return {k: v for k, v in headers.items() if not any(s in v for s in _secrets)}
