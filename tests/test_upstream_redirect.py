"""An upstream answering a 3xx (its base_url moved: http for https, a new host or path) was read
as a "malformed answer from upstream": a retried 502 and a circuit strike that told the operator
nothing. It is now a configuration error like a 401/404: never followed, not retried on the same
model, an `upstream_config` alert naming the model and the Location's host, a strike against the
model's circuit, and still a 502 to the caller (on both surfaces, with x-should-retry: false),
charged nothing (a redirect carries no answer). The upstream's 401, surfaced as a 503, raised no
alert either (the config branch only read UpstreamRejected, a 404): it does now."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbiter import budget
from arbiter.errors import UpstreamRedirected
from tests.adversarial.hostile_upstream import response, scripted_upstream
from tests.inproc import (
    raw_anthropic_upstream,
    raw_openai_upstream,
    recorded_decision,
    sidecar_in_process,
)

pytestmark = pytest.mark.timeout(90)

USER = [{"role": "user", "content": "Hi"}]
# retries on: a redirect must not use them (the same request meets the same redirect)
FAILOVER = (
    "\n[failover]\ntotal_timeout_s = 3.0\nfirst_byte_timeout_s = 2.0\nretries_per_model = 2\n"
    "backoff_ms = 1\n"
)


def _alerts_of(alerts: list[dict[str, object]], kind: str) -> list[dict[str, object]]:
    return [a for a in alerts if a["kind"] == kind]


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_redirect_is_a_config_error_never_followed(tmp_path: Path, protocol: str) -> None:
    async def main() -> None:
        port_box: list[int] = []

        async def answer(writer: asyncio.StreamWriter) -> None:
            # back to this same server on another path: were it followed, calls would be 2
            where = b"http://127.0.0.1:%d/moved/v1" % port_box[0]
            head = b"307 Temporary Redirect\r\nlocation: " + where + b"\r\ncontent-type: text/html"
            writer.write(response(head, b"<a>moved</a>"))

        async with scripted_upstream(answer) as (port, calls):
            port_box.append(port)
            edit = (raw_openai_upstream if protocol == "openai" else raw_anthropic_upstream)(port)
            model = "oa-raw" if protocol == "openai" else "an-raw"
            async with sidecar_in_process(tmp_path, edit_config=lambda t: edit(t) + FAILOVER) as sc:
                for path in ("/v1/chat/completions", "/v1/messages"):
                    body = {"model": model, "max_tokens": 20, "messages": USER}
                    before = calls[0]
                    r = await sc.client.post(path, json=body, headers=sc.auth_for(path))
                    assert r.status_code == 502, r.text  # not a 500, nor the 307 passed on
                    assert calls[0] == before + 1, calls  # neither followed nor retried
                    assert r.headers["x-should-retry"] == "false"
                    text = r.text
                    assert "redirect" in text and model in text, text
                    assert "127.0.0.1" not in text and "moved" not in text  # operator's only
                    decision = await recorded_decision(sc, r.headers["x-arbiter-decision-id"])
                    assert decision["cost_usd"] == 0.0, decision  # no answer: nothing billed
                    assert float(r.headers["x-arbiter-cost-usd"]) == 0.0, r.headers
                # a stream meets the same redirect
                r = await sc.client.post(
                    "/v1/chat/completions", headers=sc.auth,
                    json={"model": model, "max_tokens": 20, "messages": USER, "stream": True},
                )  # fmt: skip
                assert r.status_code == 502, r.text
                alerts = (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()["data"]
                config = _alerts_of(alerts, "upstream_config")
                assert len(config) == 1, config  # one alert, not one per request
                data = config[0]["data"]
                assert isinstance(data, dict)
                assert data["status"] == 307 and data["location_host"] == "127.0.0.1", data
                assert config[0]["model"] == model
                message = str(config[0]["message"])
                assert "127.0.0.1" in message and "base_url" in message, message
                stats = (await sc.client.get("/arbiter/stats", headers=sc.admin)).json()
                # three strikes (of breaker.failure_threshold = 5): counted, as a 401/404 is
                assert stats["circuits"][model]["consecutive_failures"] == 3, stats["circuits"]

    asyncio.run(main())


def test_a_redirect_is_not_billed() -> None:
    err = UpstreamRedirected("x", upstream_status=301, location_host=None)
    assert not budget.may_be_billed(err) and err.http_status == 502 and not err.should_retry


def test_an_upstream_401_raises_the_config_alert(tmp_path: Path) -> None:
    async def answer(writer: asyncio.StreamWriter) -> None:
        body = b'{"error": {"message": "bad key", "type": "invalid_request_error"}}'
        writer.write(response(b"401 Unauthorized\r\ncontent-type: application/json", body))

    async def main() -> None:
        async with scripted_upstream(answer) as (port, calls):
            edit = raw_openai_upstream(port)
            async with sidecar_in_process(tmp_path, edit_config=lambda t: edit(t) + FAILOVER) as sc:
                body = {"model": "oa-raw", "messages": USER}
                r = await sc.client.post("/v1/chat/completions", json=body, headers=sc.auth)
                assert r.status_code == 503, r.text  # another model may serve it: as before
                assert calls[0] == 1  # not retried: the key is refused every time
                alerts = (await sc.client.get("/arbiter/alerts", headers=sc.admin)).json()["data"]
                config = _alerts_of(alerts, "upstream_config")
                assert len(config) == 1 and config[0]["model"] == "oa-raw", alerts
                assert "refused the API key" in str(config[0]["message"])
                # refused before any work: nothing charged (was the call's worst case)
                assert float(r.headers["x-arbiter-cost-usd"]) == 0.0, r.headers

    asyncio.run(main())
