"""health25: a real `arbiter serve` child tracing to a dead collector (nothing listens: every
export refused) or a silent one (it accepts and never answers) stops promptly on SIGTERM: its
wait for the last spans' export is bounded (telemetry.SHUTDOWN_EXPORT_S), and its last line
counts the spans it did not export. Before, the stop waited out the exporter's 10 s timeout."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import orjson
import pytest

from arbiter.telemetry import SHUTDOWN_EXPORT_S
from tests.ops25_rig import Upstream, collector, dead_collector, served
from tests.scripted_upstream import serving

# the stop's other steps (records written, connections closed) on a loaded 2-core host
STOP_SLACK_S = 5.0


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "refused"])
def test_a_stop_with_a_dead_collector_is_prompt_and_counts_what_it_lost(
    tmp_path: Path, silent: bool
) -> None:
    with (
        dead_collector(silent) as (endpoint, _),
        serving(Upstream) as url,
        served(tmp_path, url, {"telemetry": {"otlp_endpoint": endpoint}}, log_format="json") as s,
    ):
        for n in range(3):
            r = httpx.post(
                f"{s.root}/v1/chat/completions", timeout=30,
                json={"model": "sim-small", "messages": [{"role": "user", "content": f"{n}"}]},
            )  # fmt: skip
            assert r.status_code == 200, r.text
        began = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(40)
        took = time.monotonic() - began
        lines = [orjson.loads(line) for line in s.lines() if line.startswith("{")]
    assert s.proc.returncode in (0, -signal.SIGTERM), s.lines()[-5:]  # uvicorn re-raises it
    assert took < SHUTDOWN_EXPORT_S + STOP_SLACK_S, (took, s.lines()[-5:])
    (lost,) = [r for r in lines if r["message"].startswith("telemetry: stopped with")]
    assert lost["level"] == "warning"
    assert lost["spans_lost"] >= 3  # at least the three requests' spans
    assert lost["spans_ended"] >= lost["spans_lost"]
    assert lost["endpoint"] == f"{endpoint}/v1/traces"


def test_a_stop_with_a_live_collector_exports_everything_and_warns_of_nothing(
    tmp_path: Path,
) -> None:
    """The control: the bound cuts no export a live collector takes."""
    with (
        collector() as (endpoint, got),
        serving(Upstream) as url,
        served(tmp_path, url, {"telemetry": {"otlp_endpoint": endpoint}}, log_format="json") as s,
    ):
        r = httpx.post(
            f"{s.root}/v1/chat/completions", timeout=30,
            json={"model": "sim-small", "messages": [{"role": "user", "content": "x"}]},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(40)
        lines = [orjson.loads(line) for line in s.lines() if line.startswith("{")]
    assert not [rec for rec in lines if rec["message"].startswith("telemetry: stopped with")]
    rid = r.headers["x-arbiter-request-id"]
    names = {sp.name for sp in got.spans if any(
        kv.key == "arbiter.request_id" and kv.value.string_value == rid for kv in sp.attributes
    )}  # fmt: skip
    assert names == {"POST /v1/chat/completions"}, names  # the request's span, flushed at stop
    assert len(got.spans) >= 3  # request, route, attempt
