"""probe24b: an upstream's base_url may carry a proxy's basic auth (`http://user:PASSWORD@host/v1`,
which httpx sends as an Authorization header). `check-config --probe` printed that URL whole in
its problem lines, and discovery's failures (its log line, `/arbiter/admin/models`' last_error)
named it whole too; now each shows it redacted (url_redaction), and the log masks the password
wherever else it appears (log_secrets)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from arbiter import logs
from arbiter.config import loads
from arbiter.discovery import ListingError, fetch_listing
from arbiter.preflight import probe
from tests.scripted_upstream import ScriptedHandler, serving

PASSWORD = "proxyPW-p24b-8675309"


def _settings(base_url: str) -> object:
    doc = (
        f'[auth]\nmode = "open"\n[upstreams.u]\nbase_url = "{base_url}"\napi_key_env = "K"\n'
        '[models.m]\nupstream = "u"\nprice_in_per_mtok = 1.0\nprice_out_per_mtok = 1.0\n'
    )
    return loads(doc, env={"K": "sk-url-secrets-0001"})


class _NotJson(ScriptedHandler):
    def do_GET(self) -> None:
        self.answer(b"<html>no listing here</html>", "text/html")


def test_check_config_probe_never_prints_a_base_urls_password() -> None:
    """Fails before: 'upstreams.u: GET http://proxy:proxyPW-p24b-8675309@127.0.0.1:9/v1/models
    failed: ConnectError: ...'."""
    settings = _settings(f"http://proxy:{PASSWORD}@127.0.0.1:9/v1")
    problems = probe(settings, timeout_s=2.0)  # type: ignore[arg-type]
    assert len(problems) == 1 and "ConnectError" in problems[0]
    assert PASSWORD not in problems[0] and "proxy:***@127.0.0.1:9/v1/models" in problems[0]


def test_a_failed_listing_never_names_a_base_urls_password() -> None:
    """Fails before: ListingError('http://proxy:proxyPW-...@127.0.0.1:PORT/v1/models: the listing
    is not JSON ...'), the text discovery logs and shows in /arbiter/admin/models."""
    with serving(_NotJson) as url:
        base = url.replace("http://", f"http://proxy:{PASSWORD}@")
        up = _settings(base).upstreams["u"]  # type: ignore[attr-defined]
        with pytest.raises(ListingError) as err:
            asyncio.run(fetch_listing(up))
    assert "not JSON" in str(err.value) and PASSWORD not in str(err.value)


def test_the_log_masks_a_base_urls_password() -> None:
    """Fails before: no log_secrets module."""
    from arbiter import log_secrets

    log_secrets.use(_settings(f"http://proxy:{PASSWORD}@127.0.0.1:9/v1"))  # type: ignore[arg-type]
    message = f"GET http://proxy:{PASSWORD}@127.0.0.1:9/v1/models"
    record = logging.LogRecord("httpx", logging.INFO, "", 0, message, (), None)
    line = logs.TextFormatter().format(record)
    assert PASSWORD not in line and "proxy:***@" in line
