"""The upstream providers a reload replaces (config_reload.py): a provider made afresh for each
upstream added or changed (its key, base URL, limits), the old one retired (its calls in flight
finish on it, each connection closed as its call ends: HTTPProvider.retire), and one taken out
kept for the requests still holding its models (their retries find it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from arbiter.canonical import Protocol
from arbiter.config import Settings, UpstreamSettings
from arbiter.upstream.anthropic import AnthropicUpstream
from arbiter.upstream.base import Upstream
from arbiter.upstream.openai import OpenAIUpstream

log = logging.getLogger(__name__)


def make_provider(up: UpstreamSettings, settings: Settings) -> Upstream:
    """One upstream's provider, by the protocol it speaks."""
    return (AnthropicUpstream if up.protocol == "anthropic" else OpenAIUpstream)(
        up, settings.failover
    )


def swap_providers(
    current: Mapping[str, Upstream],
    gone: dict[str, Upstream],
    gone_protocols: dict[str, Protocol],
    old: Settings,
    new: Settings,
) -> tuple[dict[str, Upstream], list[Upstream]]:
    """The providers serving `new`, and the old ones to retire; one taken out goes to `gone`
    (with its protocol, from `old`)."""
    retiring = []
    upstreams = dict(current)
    for name, up in new.upstreams.items():
        was = upstreams.get(name)
        if was is not None and getattr(was, "settings", up) == up:
            continue  # unchanged (a test's provider, without settings, is kept)
        upstreams[name] = make_provider(up, new)
        gone.pop(name, None)
        if was is not None:
            retiring.append(was)
    for name in [n for n in upstreams if n not in new.upstreams]:
        gone[name] = upstreams.pop(name)
        gone_protocols[name] = old.upstreams[name].protocol
        retiring.append(gone[name])
    return upstreams, retiring


async def retire_providers(retiring: list[Upstream]) -> None:
    for was in retiring:  # each old provider's connections close as their calls end
        await was.retire()
        busy = getattr(was, "busy", 0)
        name = getattr(getattr(was, "settings", None), "name", "?")
        log.info("upstream %s: replaced by the reload; %d calls in flight finish on its old "
                 "connections, each closed as its call ends", name, busy)  # fmt: skip
