"""/metrics with a dedicated scrape key (`auth.metrics_key_env`): it reads /metrics and nothing
else; a tenant's key is refused (403), no key or a wrong one is 401, the admin key still works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter import config
from arbiter.errors import ConfigError
from tests.conftest import ENV
from tests.inproc import sidecar_in_process

METRICS_KEY = "met-test-5d1c0a"


def with_metrics_key(text: str) -> str:
    return text.replace("[auth]\n", '[auth]\nmetrics_key_env = "ARBITER_TEST_METRICS_KEY"\n', 1)


def test_metrics_key_scrapes_metrics_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENV, "ARBITER_TEST_METRICS_KEY", METRICS_KEY)

    async def main() -> None:
        async with sidecar_in_process(tmp_path, edit_config=with_metrics_key) as sc:
            scrape = {"authorization": f"Bearer {METRICS_KEY}"}
            r = await sc.client.get("/metrics", headers=scrape)
            assert r.status_code == 200 and "arbiter_" in r.text
            r = await sc.client.get("/metrics", headers={"x-api-key": METRICS_KEY})
            assert r.status_code == 200
            assert (await sc.client.get("/metrics", headers=sc.admin)).status_code == 200
            assert (await sc.client.get("/metrics", headers=sc.auth)).status_code == 403
            assert (await sc.client.get("/metrics")).status_code == 401
            wrong = {"authorization": "Bearer met-wrong"}
            assert (await sc.client.get("/metrics", headers=wrong)).status_code == 401
            # the scrape key opens nothing else
            for path in ("/arbiter/stats", "/v1/models", "/arbiter/decisions"):
                assert (await sc.client.get(path, headers=scrape)).status_code == 401, path
            r = await sc.client.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
                headers=scrape,
            )
            assert r.status_code == 401

    asyncio.run(main())


def test_a_metrics_key_variable_that_is_not_set_is_a_config_error(tmp_path: Path) -> None:
    from arbiter.offline.demo import demo_config

    text = with_metrics_key(demo_config("http://127.0.0.1:1/v1", tmp_path / "a.db"))
    with pytest.raises(ConfigError, match="ARBITER_TEST_METRICS_KEY is not set"):
        config.loads(text, env={k: v for k, v in ENV.items() if k != "ARBITER_TEST_METRICS_KEY"})
