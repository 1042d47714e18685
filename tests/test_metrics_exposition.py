"""/metrics' text against Prometheus' own parser: every line of every family parses, and label
values an operator does not choose the characters of (model names from config or discovery,
with quotes, backslashes and newlines) come back exactly. Learning calls' series included."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from arbiter.metrics import Gauges, Metrics
from arbiter.records import AlertRecord, DecisionMode, DecisionRecord, GradeRecord

HOSTILE = 'gpt "4"\\turbo\nnext line\\n'


def _decision(mode: DecisionMode) -> DecisionRecord:
    return DecisionRecord(
        id=f"d-{mode}", ts=1.0, tenant="t", task="chat", mode=mode,
        chosen_model=HOSTILE, reason="", candidates=(), attempts=(), status="ok", cost_usd=0.25,
        baseline_model=HOSTILE, baseline_cost_usd=1.0, latency_ms=120.0, prompt_tokens=1,
        completion_tokens=1,
    )  # fmt: skip


def test_every_line_parses_and_hostile_labels_round_trip() -> None:
    m = Metrics(clock=lambda: 1000.0)
    modes: tuple[DecisionMode, ...] = (
        "routed",
        "cache",
        "shadow",
        "probe",
        "judge",
        "cascade_judge",
    )
    for mode in modes:
        m.observe_decision(_decision(mode))
        m.observe_grade(GradeRecord(f"d-{mode}", 1.0, "t", "chat", HOSTILE, 0.75, "auto", "", mode))
    m.observe_alert(AlertRecord("a", 1.0, "t", "quality_change", "dropped", model=HOSTILE))
    text = m.render(Gauges(3, 1, False, {HOSTILE: True}))
    families = list(text_string_to_metric_families(text))
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert sum(len(f.samples) for f in families) == len(lines)  # no line lost or merged
    seen = {s.name: s for f in families for s in f.samples}
    models = {s.labels["model"] for f in families for s in f.samples if "model" in s.labels}
    assert models == {HOSTILE}
    assert seen["arbiter_requests_total"].value == 2  # routed and the cache hit
    assert seen["arbiter_grades_total"].value == 2
    learning = [s for f in families for s in f.samples if s.name == "arbiter_learning_grades_total"]
    assert {s.labels["mode"] for s in learning} == {"shadow", "probe", "judge"}
