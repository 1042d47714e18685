"""Checks run before the sidecar starts, or asked for with `arbiter check-config --probe`: is
the store reachable, and does each upstream serve the models the config names on it."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import orjson

from arbiter.config import ModelSettings, Settings, UpstreamSettings
from arbiter.discovery import MAX_LISTING_BYTES, models_url
from arbiter.upstream import content_coding
from arbiter.url_redaction import redact_url

if TYPE_CHECKING:
    from arbiter.store import Store

ANTHROPIC_VERSION = "2023-06-01"


def store_problem(url: str, timeout_s: int = 5) -> str | None:
    """None when the store can be opened; else one line saying why not (no secret in it)."""
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        try:
            psycopg.connect(url, connect_timeout=timeout_s).close()
        except psycopg.Error as err:
            return f"cannot reach PostgreSQL at {redact_url(url)}: {_first_line(str(err), url)}"
        return None
    from arbiter.store.sqlite import SqliteStore

    def read_if_there(store: Store) -> None:
        # SQLite opens its file lazily, on first use: a path that is a folder, or a file that is
        # no database, passed here and failed `serve` with a start-up traceback. An existing
        # file is read now; a new one is created by the migration (not here: `check-config
        # --probe` must leave no file behind)
        if isinstance(store, SqliteStore) and store.path is not None and store.path.exists():
            store.schema_version()

    return _with_store(url, "open", read_if_there)


def migrated_problem(url: str, migrate_lock_wait_s: float | None = None) -> str | None:
    """`serve`'s store work before it listens: the migrations (and their write, which a
    read-only store refuses), so a store locked by another process past the busy timeout, or
    one that opens read-only, is one line and a non-zero exit. In the app's start-up (the
    lifespan) the same failure was uvicorn's traceback, or, read-only, a sidecar that served
    and reported itself healthy while every record it took was refused."""
    return _with_store(url, "use", lambda store: store.migrate(), migrate_lock_wait_s)


def _with_store(
    url: str, verb: str, use: Callable[[Store], object], migrate_lock_wait_s: float | None = None
) -> str | None:
    """None when `use` ran on the store at `url`; else one line saying why not."""
    from arbiter.store import open_store

    try:
        store = open_store(url, migrate_lock_wait_s=migrate_lock_wait_s)
        try:
            use(store)
        finally:
            store.close()
    except Exception as err:  # any failure to open or use it: say so in one line
        return f"cannot {verb} the store at {redact_url(url)}: {_first_line(str(err), url)}"
    return None


def _first_line(text: str, url: str) -> str:
    """A driver's message, first line only, with the URL's password masked if it echoes it."""
    line = (text.strip().splitlines() or ["(no message)"])[0]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return line.replace(password, "***") if password else line


def _headers(up: UpstreamSettings) -> dict[str, str]:
    if up.protocol == "anthropic":
        return {"x-api-key": up.api_key or "", "anthropic-version": ANTHROPIC_VERSION}
    return {"authorization": f"Bearer {up.api_key}"} if up.api_key else {}


def probe(settings: Settings, timeout_s: float = 5.0) -> list[str]:
    """Ask each upstream for its models (GET /v1/models); one line per problem: an upstream that
    cannot be reached or refuses the key, a model it does not serve (with the nearest name)."""
    by_upstream: dict[str, list[ModelSettings]] = {}
    for m in settings.models.values():
        by_upstream.setdefault(m.upstream, []).append(m)
    problems: list[str] = []
    # only the codings content_coding undoes in bounded steps (httpx would offer zstd too)
    headers = {"accept-encoding": "gzip, deflate"}
    with httpx.Client(timeout=timeout_s, follow_redirects=False, headers=headers) as client:
        for name, up in settings.upstreams.items():
            url = models_url(up)
            try:
                with client.stream("GET", url, headers=_headers(up)) as r:
                    status, body = r.status_code, _read_bounded(r)
            except (httpx.HTTPError, content_coding.CodingError) as err:
                url = redact_url(url)
                problems.append(f"upstreams.{name}: GET {url} failed: {type(err).__name__}: {err}")
                continue
            url = redact_url(url)  # printed below: a base_url's password (a proxy's) is not
            if status in (401, 403):
                problems.append(
                    f"upstreams.{name}: GET {url} answered {status}: the key in "
                    f"{up.api_key_env or up.api_key_file or '(no api_key_env)'} was refused"
                )
                continue
            if body is None:
                problems.append(
                    f"upstreams.{name}: GET {url}: the listing is over {MAX_LISTING_BYTES} bytes"
                )
                continue
            served = _model_ids(status, body)
            if served is None:
                problems.append(
                    f"upstreams.{name}: GET {url} answered {status} without a model list"
                )
                continue
            problems += _missing(name, by_upstream.get(name, []), served)
    return problems


def _read_bounded(r: httpx.Response) -> bytes | None:
    """The listing's body, decoded in bounded steps (a compressed bomb stops at the limit, as
    discovery's does); None past MAX_LISTING_BYTES."""
    coded = content_coding.decoder(r.headers.get("content-encoding"))
    pieces: list[bytes] = []
    size = sent = 0
    for raw in r.iter_raw():
        sent += len(raw)  # gzip members that inflate to nothing count too
        if sent > MAX_LISTING_BYTES:
            return None
        for piece in [raw] if coded is None else coded.feed(raw):
            size += len(piece)
            if size > MAX_LISTING_BYTES:
                return None
            pieces.append(piece)
    return b"".join(pieces)


def _model_ids(status: int, body: bytes) -> set[str] | None:
    if status != 200:
        return None
    try:
        data = orjson.loads(body).get("data")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(data, list):
        return None
    return {d["id"] for d in data if isinstance(d, Mapping) and isinstance(d.get("id"), str)}


def _missing(upstream: str, models: list[ModelSettings], served: set[str]) -> list[str]:
    out = []
    for m in models:
        if m.upstream_model in served:
            continue
        close = difflib.get_close_matches(m.upstream_model, sorted(served), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(sorted(served)[:12]) or "none"
        out.append(
            f"models.{m.name}: upstream {upstream!r} does not serve {m.upstream_model!r}{hint} "
            f"(it lists: {listing})"
        )
    return out
