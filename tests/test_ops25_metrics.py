"""ops25: /metrics of a real `arbiter serve` child as Prometheus scrapes it, after a known
workload (5 answered calls, 3 cache hits of them, 2 failed calls of 2 attempts each, 1 call to a
model whose name holds a quote and backslashes): every sample under a family with HELP and TYPE,
no series twice, histograms cumulative with `+Inf` == `_count` and a plausible `_sum`, counters
that never go down across scrapes, the model's name read back exactly, and the figures equal to
the workload's and to /arbiter/stats'."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops25_rig import USAGE, Upstream, served
from tests.scripted_upstream import serving

WEIRD = 'we"ird\\mo\\del'
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def _price(model: dict[str, Any]) -> float:
    return (
        float(
            USAGE["prompt_tokens"] * model["price_in_per_mtok"]
            + USAGE["completion_tokens"] * model["price_out_per_mtok"]
        )
        / 1e6
    )


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ops25_metrics")
    weird = {"upstream": "sim", "price_in_per_mtok": 1.0, "price_out_per_mtok": 2.0,
             "context_window": 32000, "capabilities": ["chat"]}  # fmt: skip
    sections = {"cache": {"enabled": True}, "models": {WEIRD: weird}}
    with serving(Upstream) as url, served(tmp, url, sections) as s:

        def ask(model: str, content: str) -> httpx.Response:
            return httpx.post(
                f"{s.root}/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": content}]},
                timeout=30,
            )

        scrapes = [httpx.get(f"{s.root}/metrics").text]
        for i in range(5):
            assert ask("sim-small", f"q{i}").status_code == 200
        scrapes.append(httpx.get(f"{s.root}/metrics").text)
        for i in range(3):
            assert ask("sim-small", f"q{i}").headers["x-arbiter-cache"] == "hit"
        for i in range(2):
            assert ask("sim-small", f"FAIL {i}").status_code == 503
        assert ask(WEIRD, "w").status_code == 200
        scrapes += [httpx.get(f"{s.root}/metrics").text for _ in range(2)]
        stats = httpx.get(f"{s.root}/arbiter/stats").json()
    yield {"scrapes": scrapes, "stats": stats, "weird_price": _price(weird)}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"series twice: {key}"
            out[key] = s.value
    return out


def test_every_sample_is_under_a_family_with_help_and_type(scraped: dict[str, Any]) -> None:
    text = scraped["scrapes"][-1]
    helped, typed = set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert name not in typed, f"TYPE twice: {name}"
            typed[name] = kind
        elif line and not line.startswith("#"):
            m = _NAME.match(line)
            assert m, line
            name = m.group()
            family = name if name in typed else next(
                (name.removesuffix(x) for x in _SUFFIXES if name.removesuffix(x) in typed), None
            )  # fmt: skip
            assert family is not None, f"a sample of no declared family: {line}"
            assert family in helped, family
            if name != family:  # a suffixed sample: only histograms and summaries have them
                assert typed[family] in ("histogram", "summary"), line
    assert set(typed) == helped
    assert all(k in ("counter", "gauge", "histogram", "summary") for k in typed.values()), typed


def test_histograms_are_consistent(scraped: dict[str, Any]) -> None:
    for text in scraped["scrapes"]:
        for family in text_string_to_metric_families(text):
            if family.type != "histogram":
                continue
            series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = defaultdict(dict)
            for s in family.samples:
                labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    series[labels].setdefault("b", []).append((float(s.labels["le"]), s.value))
                else:
                    series[labels][s.name.rsplit("_", 1)[1]] = s.value
            for labels, h in series.items():
                bounds = [le for le, _ in h["b"]]
                counts = [n for _, n in h["b"]]
                assert bounds == sorted(bounds) and bounds[-1] == math.inf, (family.name, labels)
                assert counts == sorted(counts), (family.name, labels, counts)  # cumulative
                assert counts[-1] == h["count"], (family.name, labels)
                assert h["sum"] >= 0 and math.isfinite(h["sum"])
                # every observation at most its bucket's bound: the sum cannot pass that
                finite = [le for le in bounds if le != math.inf]
                if counts[-1] == counts[-2]:  # nothing past the last finite bound
                    assert h["sum"] <= counts[-1] * finite[-1]


def test_counters_never_go_down_across_scrapes(scraped: dict[str, Any]) -> None:
    kinds = {f.name: f.type for f in text_string_to_metric_families(scraped["scrapes"][-1])}
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for text in scraped["scrapes"]:
        now = _samples(text)
        for key, value in now.items():
            family = key[0].removesuffix("_total")
            counted = kinds.get(family) == "counter" or key[0].endswith(("_count", "_bucket"))
            if counted and key in before:
                assert value >= before[key], (key, before[key], value)
        for key in before:  # no series vanishes
            assert key in now, key
        before = now


def test_figures_match_the_workload_and_stats(scraped: dict[str, Any]) -> None:
    last = _samples(scraped["scrapes"][-1])

    def total(name: str, **labels: str) -> float:
        return sum(
            v for (n, ls), v in last.items()
            if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
        )  # fmt: skip

    assert total("arbiter_requests_total", model="sim-small", status="ok") == 8  # 5 + 3 hits
    assert total("arbiter_requests_total", model="sim-small", status="failed") == 2
    assert total("arbiter_requests_total", model=WEIRD, status="ok") == 1  # the name, exactly
    assert total("arbiter_cache_requests_total", result="hit") == 3
    assert total("arbiter_failed_upstream_calls_total", model="sim-small") == 4  # 2 attempts each
    assert total("arbiter_request_latency_seconds_count") == 11
    assert total("arbiter_cost_usd_total", model=WEIRD) == pytest.approx(scraped["weird_price"])
    stats = scraped["stats"]
    assert total("arbiter_requests_total") == stats["requests"] == 11
    assert total("arbiter_requests_total", status="failed") == stats["failed"]
    assert total("arbiter_cost_usd_total") == pytest.approx(stats["cost_usd"], rel=1e-9)
    assert total("arbiter_baseline_cost_usd_total") == pytest.approx(
        stats["baseline_cost_usd"], rel=1e-9
    )
