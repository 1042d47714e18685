"""Headless Chromium for the dashboard tests: Debian's `chromium` driven by Playwright for Python
(no browser download). Missing either one skips locally and FAILS under CI=true, like
tests/shared_data.py: a browser check that silently stops running is worse than one that fails.
And the stack those tests read: the demo's, its store holding the test's records."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from arbiter.offline.demo import Running, running_stack
from arbiter.records import Record
from arbiter.store import open_store

CHROMIUM = os.environ.get("ARBITER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{what} missing in CI (.ci/run installs it)")
    pytest.skip(f"{what} not installed")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright's Browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        _missing(f"chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def module_browser() -> Iterator[Any]:
    """One Chromium for a test module's `browser` tests: a launch took 13-16 s at load ~20
    (suite26), and each of 14 dashboard tests launched its own."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def browser(module_browser: Any) -> Iterator[Any]:
    """The module's Chromium for one test (tests/conftest.py's pytest_plugins: every test may
    ask for it). Each `new_page` opens a context of its own (no cookie or storage shared);
    every context the test left open is closed after it, so no page of it polls on."""
    yield module_browser
    for context in list(module_browser.contexts):
        context.close()


@contextmanager
def seeded_stack(workdir: Path, records: Callable[[float], Sequence[Record]]) -> Iterator[Running]:
    """The demo stack in `workdir`, its store holding `records(now)` before any page reads it."""
    with running_stack(workdir) as running:
        store = open_store(f"sqlite:///{workdir / 'arbiter.db'}")
        try:
            store.write(records(time.time()))
        finally:
            store.close()
        yield running
