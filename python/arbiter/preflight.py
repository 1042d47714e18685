"""Checks run before the sidecar starts, or asked for with `arbiter check-config --probe`: is
the store reachable, and does each upstream serve the models the config names on it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from arbiter.config import ModelSettings, Settings, UpstreamSettings
from arbiter.url_redaction import redact_url

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
    from arbiter.store import open_store

    try:
        open_store(url).close()
    except Exception as err:  # any failure to open it: say so in one line
        return f"cannot open the store at {redact_url(url)}: {_first_line(str(err), url)}"
    return None


def _first_line(text: str, url: str) -> str:
    """A driver's message, first line only, with the URL's password masked if it echoes it."""
    line = (text.strip().splitlines() or ["(no message)"])[0]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return line.replace(password, "***") if password else line


def models_url(up: UpstreamSettings) -> str:
    """Where an upstream lists its models: OpenAI's base URL ends in /v1; Anthropic's does not."""
    base = up.base_url.rstrip("/")
    return f"{base}/v1/models" if up.protocol == "anthropic" else f"{base}/models"


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
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        for name, up in settings.upstreams.items():
            url = models_url(up)
            try:
                r = client.get(url, headers=_headers(up))
            except httpx.HTTPError as err:
                problems.append(f"upstreams.{name}: GET {url} failed: {type(err).__name__}: {err}")
                continue
            if r.status_code in (401, 403):
                problems.append(
                    f"upstreams.{name}: GET {url} answered {r.status_code}: the key in "
                    f"{up.api_key_env or '(no api_key_env)'} was refused"
                )
                continue
            served = _model_ids(r)
            if served is None:
                problems.append(
                    f"upstreams.{name}: GET {url} answered {r.status_code} without a model list"
                )
                continue
            problems += _missing(name, by_upstream.get(name, []), served)
    return problems


def _model_ids(r: httpx.Response) -> set[str] | None:
    if r.status_code != 200:
        return None
    try:
        data = r.json().get("data")
    except (ValueError, AttributeError):
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
