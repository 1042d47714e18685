"""Which store a `store.url` names, checked without opening it (no store module imported): the
config check and `open_store` apply the same rules, so `check-config` never answers OK to a url
that every command then refuses at start."""

from __future__ import annotations

from pathlib import Path

from arbiter.url_redaction import redact_url

USE = "use sqlite:///relative.db, sqlite:////abs/path.db, sqlite://:memory: or postgresql://..."


class BadStoreUrl(ValueError):
    """A `store.url` no store can open; the message names the url (redacted) and what to use."""


def sqlite_path(url: str) -> Path | None:
    """`sqlite:///rel.db` -> rel.db, `sqlite:////abs.db` -> /abs.db, `sqlite://:memory:` -> None."""
    if not url.startswith("sqlite://"):
        raise BadStoreUrl(f"not a sqlite url: {url!r}: {USE}")
    rest = url[len("sqlite://") :]
    if rest in (":memory:", "/:memory:"):
        return None
    if not rest.startswith("/") or len(rest) < 2:
        raise BadStoreUrl(f"sqlite url needs a path: {USE}, got {url!r}")
    return Path(rest[1:])


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def check_store_url(url: str) -> None:
    """Raise BadStoreUrl unless `url` is one `open_store` takes."""
    if url.startswith("sqlite:"):
        sqlite_path(url)
    elif not is_postgres(url):
        raise BadStoreUrl(f"unsupported store url {redact_url(url)!r}: {USE}")
