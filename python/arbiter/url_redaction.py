"""Store URLs fit to print: logs, `arbiter serve`'s banner and errors never show a password."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_QUERY_KEYS = frozenset({"password", "passwd", "sslpassword", "secret", "token", "api_key"})


def redact_url(url: str) -> str:
    """`url` fit to print: a password in its user info or its query string becomes `***`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL we can take apart: print nothing of it
        return "<unparseable url>"
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[-1]}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
        query = urlencode(
            [(k, "***" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*"
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing secret (and urlunsplit would drop sqlite:///'s empty host)
    return urlunsplit(parts._replace(netloc=netloc, query=query))
