"""probe21c: the dashboard and the metrics (scrape-only) keys rotated by a reload with
`server.workers = 2`: from the reload on, on every worker, the new key is let in and the old one
is a 401; a key file taken out of `[auth]` is refused on every worker too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.scripted_upstream import ScriptedHandler, capped_sidecar, serving
from tests.waiting import until


class _Unused(ScriptedHandler):
    pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(_Unused) as url:
        yield url


def _status(root: str, path: str, key: str) -> int:
    with httpx.Client() as fresh:  # a connection of its own: the kernel picks the worker
        return fresh.get(f"{root}{path}", headers={"authorization": f"Bearer {key}"}).status_code


def test_dashboard_and_metrics_keys_rotate_on_every_worker(upstream: str, tmp_path: Path) -> None:
    dash, scrape = tmp_path / "dash.key", tmp_path / "metrics.key"
    dash.write_text("dash-0-" + os.urandom(6).hex())
    scrape.write_text("scrape-0-" + os.urandom(6).hex())

    def two_workers(doc: dict[str, Any]) -> None:
        doc.setdefault("server", {})["workers"] = 2
        doc["auth"].update(dashboard_key_file=str(dash), metrics_key_file=str(scrape))

    with capped_sidecar(upstream, "sqlite", tmp_path, edit=two_workers) as s:
        root = s.root_url

        def everywhere(path: str, key: str, status: int) -> bool:
            return all(_status(root, path, key) == status for _ in range(6))

        old_dash, old_scrape = dash.read_text(), scrape.read_text()
        assert everywhere("/arbiter/stats", old_dash, 200)
        assert everywhere("/metrics", old_scrape, 200)
        assert everywhere("/metrics", old_dash, 403)  # the dashboard's key is not the scraper's
        new_dash, new_scrape = "dash-1-" + os.urandom(6).hex(), "scrape-1-" + os.urandom(6).hex()
        dash.write_text(new_dash + "\n")
        scrape.write_text(new_scrape + "\n")
        r = s.admin("POST", "/arbiter/admin/reload")
        assert r.status_code == 200, r.text
        assert sorted(r.json()["changed"]) == ["auth.dashboard_key", "auth.metrics_key"]
        assert new_dash not in r.text and new_scrape not in r.text
        until(
            lambda: (
                everywhere("/arbiter/stats", new_dash, 200)
                and everywhere("/arbiter/stats", old_dash, 401)
                and everywhere("/metrics", new_scrape, 200)
                and everywhere("/metrics", old_scrape, 401)
            ),
            "the new keys in, the old ones out, on every worker",
        )
        # the metrics key file taken out of [auth]: that key is refused everywhere
        text = s.config_path.read_text()
        s.config_path.write_text(
            "\n".join(x for x in text.splitlines() if not x.startswith("metrics_key_file")) + "\n"
        )
        r = s.admin("POST", "/arbiter/admin/reload")
        assert r.status_code == 200 and r.json()["changed"] == [
            "auth.metrics_key",
            "auth.metrics_key_file",
        ], r.text
        until(lambda: everywhere("/metrics", new_scrape, 401), "no scrape key on every worker")
        assert everywhere("/arbiter/stats", new_dash, 200)
