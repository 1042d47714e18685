"""metrics_worker.labelled: every sample of a worker's /metrics names the worker first."""

from __future__ import annotations

from arbiter.metrics import Gauges, Metrics
from arbiter.metrics_worker import labelled


def test_every_sample_gets_the_label_and_nothing_else_changes() -> None:
    text = '# HELP a x\n# TYPE a counter\na 1\nb{m="x",le="+Inf"} 2\nc{} 3.5\n'
    assert labelled(text, "1") == (
        '# HELP a x\n# TYPE a counter\na{worker="1"} 1\n'
        'b{worker="1",m="x",le="+Inf"} 2\nc{worker="1"} 3.5\n'
    )


def test_a_rendered_exposition_keeps_its_values() -> None:
    text = Metrics().render(Gauges(3, 1, True, {"oa-1": False}))
    out = labelled(text, "0")
    samples = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    relabelled = [ln for ln in out.splitlines() if ln and not ln.startswith("#")]
    assert len(samples) == len(relabelled) > 0
    for before, after in zip(samples, relabelled, strict=True):
        assert after.startswith(before.split("{")[0].split(" ")[0] + '{worker="0"')
        assert after.rsplit(" ", 1)[1] == before.rsplit(" ", 1)[1]
