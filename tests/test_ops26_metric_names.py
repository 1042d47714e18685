"""ops26: the whole /metrics of a sidecar (its cache on, a request answered and graded) read by
Prometheus' own parser and held to the naming rules `promtool check metrics` applies
(client_golang's promlint): a counter's name ends in `_total`, no other kind's does, and only
histograms and summaries end in `_sum`, `_count` or `_bucket`. Before, `arbiter_grade_sum` and
`arbiter_learning_grade_sum` were counters without `_total` (and the parser read their samples
back under another name, `arbiter_grade_sum_total`, than the one served)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.inproc import sidecar_in_process

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "Say hi."}]}
_TYPE = re.compile(r"# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)")
_HISTOGRAM_SUFFIXES = ("_sum", "_count", "_bucket")
# promlint's unit abbreviations and non-base units
_BAD_UNITS = ("_ms", "_us", "_ns", "_sec", "_secs", "_milliseconds", "_microseconds", "_minutes")


def lint(text: str) -> list[str]:
    """promlint's naming problems in an exposition, one line each."""
    problems = []
    for line in text.splitlines():
        if not line.startswith("# TYPE"):
            continue
        m = _TYPE.fullmatch(line)
        assert m is not None, f"unparsable TYPE line: {line!r}"
        name, kind = m.groups()
        if ":" in name:
            problems.append(f"{name}: colons are for recording rules")
        if kind == "counter" and not name.endswith("_total"):
            problems.append(f"{name}: a counter should end in _total")
        if kind != "counter" and name.endswith("_total"):
            problems.append(f"{name}: only a counter ends in _total")
        if kind not in ("histogram", "summary") and name.endswith(_HISTOGRAM_SUFFIXES):
            problems.append(f"{name}: _sum/_count/_bucket are a histogram's or summary's")
        base = name.removesuffix("_total")
        if any(base.endswith(u) or f"{u}_" in base for u in _BAD_UNITS):
            problems.append(f"{name}: use base units (seconds)")
    return problems


def test_the_whole_exposition_parses_and_passes_prometheus_naming(tmp_path: Path) -> None:
    async def main() -> str:
        async with sidecar_in_process(
            tmp_path, edit_config=lambda t: t + "\n[cache]\nenabled = true\n"
        ) as sc:
            r = await sc.client.post("/v1/chat/completions", json=CHAT, headers=sc.auth)
            assert r.status_code == 200, r.text
            did = r.headers["x-arbiter-decision-id"]
            await sc.services.learner.drain()
            fb = await sc.client.post(
                "/v1/feedback", json={"decision_id": did, "score": 0.5}, headers=sc.auth
            )
            assert fb.status_code == 200, fb.text
            await sc.services.learner.drain()
            m = await sc.client.get("/metrics", headers=sc.admin)
            assert m.status_code == 200
            return m.text

    text = asyncio.run(main())
    assert lint(text) == []
    families = list(text_string_to_metric_families(text))
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    served = {ln.split("{")[0].split(" ")[0] for ln in lines}
    parsed = {s.name for f in families for s in f.samples}
    assert sum(len(f.samples) for f in families) == len(lines)  # no sample lost or merged
    assert parsed == served  # every sample read back under the name it was served as
    assert "arbiter_grade_score_total" in served  # the graded answer's series is there
    assert "arbiter_cache_requests_total" in served


def test_the_lint_catches_what_promtool_does() -> None:
    """The rules above refuse what they should (so an empty list means something)."""
    bad = (
        "# TYPE a_sum counter\n# TYPE b_total gauge\n# TYPE c_count gauge\n"
        "# TYPE d_latency_ms gauge\n# TYPE e:f gauge\n# TYPE ok_seconds_total counter\n"
    )
    assert [p.split(":")[0] for p in lint(bad)] == ["a_sum", "a_sum", "b_total", "c_count",
                                                    "d_latency_ms", "e"]  # fmt: skip
