"""Model discovery: poll each `discover = true` upstream's model listing and share what it says.

Per upstream, every `discover_interval_s`: take the store's lease for it (one replica polls at a
time; the lease outlives a dead holder by at most 3 intervals), GET the listing (OpenAI's
`/v1/models` with a Bearer key, or Anthropic's with `x-api-key` + `anthropic-version`, paged by
`has_more`/`last_id`), parse it (listing.py: untrusted, bounded, bad entries skipped and counted),
keep what the include/exclude globs select, and write it to the store, which says what changed.
Changes raise alerts (new models, unpriced ones, gone, back, repriced) and refresh this replica's
registry at once; the others adopt it on their next sync (services.sync_policy).

A listing that cannot be fetched or is not a listing changes nothing: only a good listing can
make a model leave the pool. A model that leaves is only dropped from new decisions; a request
already routed to it keeps it (registry[name] still resolves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from arbiter.alerts import AlertRules
from arbiter.config import UpstreamSettings
from arbiter.listing import MAX_ENTRIES, Listed, Page, parse_page, selected
from arbiter.records import SYSTEM_TENANT
from arbiter.store import Store
from arbiter.store.discovered import ListingChanges
from arbiter.upstream import content_coding
from arbiter.upstream.anthropic import API_VERSION
from arbiter.url_paths import path_of, with_path
from arbiter.url_redaction import redact_url

log = logging.getLogger(__name__)

MAX_LISTING_BYTES = 8 * 1024 * 1024  # all pages together
MAX_PAGES = 20
FETCH_TIMEOUT_S = 10.0  # httpx's, per connect / read: a server trickling bytes never trips it
FETCH_DEADLINE_S = 60.0  # so the whole listing (every page) must arrive within this
_NAMES_IN_ALERT = 20


class ListingError(Exception):
    """The listing could not be fetched or was not a listing (nothing is concluded from it)."""


@dataclass(slots=True)
class UpstreamPolls:
    """What /arbiter/admin/models shows of one upstream's discovery."""

    polls: int = 0
    failures: int = 0
    skipped_entries: int = 0  # listing entries that were not a usable model (last good poll)
    excluded: int = 0  # usable entries the include/exclude globs kept out (last good poll)
    listed: int = 0
    last_ok_ts: float | None = None
    last_error: str | None = None


def models_url(up: UpstreamSettings) -> str:
    """Where an upstream lists its models, its base URL's query kept at the end (url_paths)."""
    if up.protocol == "anthropic" and not path_of(up.base_url).endswith("/v1"):
        # Anthropic's base URL has no /v1 (upstream/anthropic.py)
        return with_path(up.base_url, "/v1/models")
    return with_path(up.base_url, "/models")


class Discovery:
    def __init__(
        self,
        upstreams: dict[str, UpstreamSettings],
        store: Store,
        alerts: AlertRules,
        refresh: Callable[[], None],
        is_priced: Callable[[str], bool],
        configured: Collection[str] = (),
        served_by: Callable[[str], str | None] = lambda _: None,
    ) -> None:
        self.upstreams = {n: u for n, u in upstreams.items() if u.discover}
        self._configured = frozenset(configured)  # the config's own models: never discovered
        self._store = store
        self._alerts = alerts
        self._refresh = refresh  # re-reads the store into this replica's registry
        self._is_priced = is_priced
        # the upstream a model is routed on now (the registry's, after a refresh), else None:
        # a name one upstream dropped may still be served by another that lists it
        self._served_by = served_by
        self.holder = uuid.uuid4().hex
        self.stats = {name: UpstreamPolls() for name in self.upstreams}
        self._tasks: list[asyncio.Task[None]] = []
        self._polling: dict[str, asyncio.Lock] = {}

    def reconfigure(
        self,
        configured: Collection[str],
        upstreams: Mapping[str, UpstreamSettings] | None = None,
    ) -> None:
        """A reloaded config's model names: from the next poll, a name the config took out may
        be discovered, one it added is not (config_reload.py). `upstreams`: the reloaded
        settings of the discovering ones (a new key or base URL from the next poll; which
        upstreams discover cannot change live)."""
        self._configured = frozenset(configured)
        if upstreams is not None:
            self.upstreams = {n: u for n, u in upstreams.items() if n in self.upstreams}

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._loop(name)) for name in self.upstreams]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            for name in self.upstreams:  # another replica takes over at its next tick
                try:
                    await asyncio.to_thread(self._store.release_discovery, name, self.holder)
                except Exception:  # the store may be down: the lease then simply expires
                    log.info("discovery: could not release the %s lease", name, exc_info=True)
        self._tasks = []

    async def _loop(self, name: str) -> None:
        interval = self.upstreams[name].discover_interval_s
        while True:
            try:
                claimed = await asyncio.to_thread(
                    self._store.claim_discovery, name, self.holder, time.time(), 3 * interval
                )
                if claimed:
                    await self.poll_once(name)
            except Exception:  # the store may be down: try again next round
                log.warning("discovery of %s failed; will retry", name, exc_info=True)
            await asyncio.sleep(interval)

    async def poll_once(self, name: str) -> ListingChanges | None:
        """Fetch, parse and record `name`'s listing; None when it could not be read. One poll
        per upstream at a time: two interleaved ones (the loop's and a caller's) could record
        the listing fetched first after the one fetched later, undoing a change."""
        lock = self._polling.setdefault(name, asyncio.Lock())
        async with lock:
            return await self._poll(name)

    async def _poll(self, name: str) -> ListingChanges | None:
        up = self.upstreams[name]
        st = self.stats[name]
        st.polls += 1
        try:
            pages = await fetch_listing(up)
        except ListingError as err:
            st.failures += 1
            st.last_error = str(err)
            log.warning("discovery: %s: %s", name, err)
            return None
        models, skipped = merge_pages(pages)
        models = [m for m in models if m.id not in self._configured]
        kept = {m.id: m.to_json() for m in models if selected(m.id, up.include, up.exclude)}
        st.skipped_entries, st.excluded = skipped, len(models) - len(kept)
        st.listed, st.last_ok_ts, st.last_error = len(kept), time.time(), None
        if skipped:
            log.warning("discovery: %s: skipped %d unusable listing entries", name, skipped)
        changes = await asyncio.to_thread(self._store.record_listing, name, kept, time.time())
        if changes:
            await asyncio.to_thread(self._refresh)  # this replica at once
            self._alert(name, changes)
        return changes

    def _alert(self, upstream: str, ch: ListingChanges) -> None:
        emit = self._alerts.emit
        if ch.new:
            self._list(upstream, "models_discovered", ch.new, "joined the pool")
        for model in ch.new + ch.back:
            if not self._is_priced(model):
                emit(
                    SYSTEM_TENANT,
                    "model_unpriced",
                    f"{model} (from {upstream}) has no price: `auto` does not route to it until "
                    f"an operator prices it (PATCH /arbiter/admin/models/{model} with "
                    "price_in_per_mtok and price_out_per_mtok); it can be called by name",
                    model=model,
                    data={"upstream": upstream},
                )
        if ch.gone:
            self._gone(upstream, ch.gone)
        if ch.back:
            self._list(upstream, "models_back", ch.back, "listed again")
        for model, (old, new) in ch.repriced.items():
            emit(
                SYSTEM_TENANT,
                "price_changed",
                f"{model}: {upstream} lists a new price: input ${_p(old, 'in')} -> "
                f"${_p(new, 'in')}, output ${_p(old, 'out')} -> ${_p(new, 'out')} per 1M tokens",
                model=model,
                data={"upstream": upstream, "old": old, "new": new},
            )

    def _gone(self, upstream: str, names: list[str]) -> None:
        """`models_gone`, worded from the registry: a name another upstream still serves is
        still routed (on that upstream), one none serves is not."""
        by: dict[str | None, list[str]] = {}
        for name in names:
            other = self._served_by(name)
            by.setdefault(None if other == upstream else other, []).append(name)
        for other, gone in by.items():
            if other is None:
                self._list(upstream, "models_gone", gone, "left the listing; no longer routed")
            else:
                what = f"left the listing; still routed, served by {other}"
                self._list(upstream, "models_gone", gone, what, {"served_by": other})

    def _list(
        self,
        upstream: str,
        kind: str,
        names: list[str],
        what: str,
        more: dict[str, Any] | None = None,
    ) -> None:
        data = {"upstream": upstream, "models": names[:_NAMES_IN_ALERT], **(more or {})}
        self._alerts.emit(SYSTEM_TENANT, kind, f"{upstream}: {_names(names)} {what}", data=data)


def _p(doc: dict[str, Any], side: str) -> str:
    v = doc.get(f"price_{side}_per_mtok")
    return "?" if v is None else f"{v:g}"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMES_IN_ALERT])
    return shown + (
        f" and {len(names) - _NAMES_IN_ALERT} more" if len(names) > _NAMES_IN_ALERT else ""
    )


def merge_pages(pages: list[Page]) -> tuple[list[Listed], int]:
    """All pages' models (the first of a repeated id wins, at most MAX_ENTRIES) and skips."""
    seen: dict[str, Listed] = {}
    skipped = 0
    for page in pages:
        skipped += page.skipped
        for m in page.models:
            if m.id in seen or len(seen) >= MAX_ENTRIES:
                skipped += 1
            else:
                seen[m.id] = m
    return list(seen.values()), skipped


async def fetch_listing(up: UpstreamSettings) -> list[Page]:
    """Every page of `up`'s listing, within MAX_LISTING_BYTES, MAX_PAGES and FETCH_DEADLINE_S."""
    try:
        async with asyncio.timeout(FETCH_DEADLINE_S):
            return await _fetch_pages(up)
    except TimeoutError:
        raise ListingError(
            f"{redact_url(models_url(up))}: no whole listing within {FETCH_DEADLINE_S:g} seconds"
        ) from None


async def _fetch_pages(up: UpstreamSettings) -> list[Page]:
    # only the codings content_coding undoes in bounded steps (httpx would offer zstd too)
    headers = {"accept": "application/json", "accept-encoding": "gzip, deflate"}
    if up.protocol == "anthropic":
        headers["anthropic-version"] = API_VERSION
        if up.api_key:
            headers["x-api-key"] = up.api_key
    elif up.api_key:
        headers["authorization"] = f"Bearer {up.api_key}"
    url = models_url(up)
    shown = redact_url(url)  # a base_url's user info (a proxy's basic auth) is no message's
    pages: list[Page] = []
    budget = MAX_LISTING_BYTES
    params: dict[str, str] = {"limit": "1000"} if up.protocol == "anthropic" else {}
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, trust_env=False) as client:
        for _ in range(MAX_PAGES):
            raw = await _get_bounded(client, url, headers, params, budget)
            budget -= len(raw)
            page = await asyncio.to_thread(_decode, shown, raw)  # CPU: off the event loop
            if not page.valid:
                raise ListingError(f"{shown}: the answer has no `data` list of models")
            pages.append(page)
            if not (up.protocol == "anthropic" and page.has_more and page.last_id):
                break
            if params.get("after_id") == page.last_id:
                break  # a server that repeats its page would loop for ever
            params = {**params, "after_id": page.last_id}
    return pages


def _decode(url: str, raw: bytes) -> Page:  # `url` as a message shows it (redacted)
    try:
        doc = orjson.loads(raw)  # nesting past 1024 levels is a JSONDecodeError
    except orjson.JSONDecodeError as err:
        raise ListingError(f"{url}: the listing is not JSON ({err})") from None
    return parse_page(doc)


async def _get_bounded(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict[str, str], limit: int
) -> bytes:
    shown = redact_url(url)  # in each message: the URL without its password
    try:
        # merged into the base URL's own query (`?api-version=`): httpx's `params=` replaces it
        target = httpx.URL(url).copy_merge_params(params)
        async with client.stream("GET", target, headers=headers) as resp:
            if resp.status_code != 200:
                raise ListingError(f"{shown} answered HTTP {resp.status_code}")
            chunks: list[bytes] = []
            size = 0
            coded = content_coding.decoder(resp.headers.get("content-encoding"))
            body = resp.aiter_raw()
            # decoded in bounded steps: a gzip bomb counts, and stops at the limit
            decoded = body if coded is None else content_coding.decoded(body, coded, limit)
            async for chunk in decoded:
                size += len(chunk)
                if size > limit:
                    raise ListingError(f"{shown}: the listing is over {MAX_LISTING_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as err:
        raise ListingError(f"{shown}: {type(err).__name__}") from None
    except content_coding.CodingError as err:
        raise ListingError(f"{shown}: the listing's {err}") from None
