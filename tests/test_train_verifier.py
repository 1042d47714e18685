"""The math verifier's trainer reproduces the shipped file, and its value head ranks as chosen."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arbiter.cascade import VERIFIER_V3, Verifier
from arbiter.offline import train_verifier as tv
from tests.shared_data import ROUTING, require_shared


def test_training_reproduces_the_shipped_verifier(tmp_path: Path) -> None:
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    out = tmp_path / "v.json"
    report = tv.train_verifier(ROUTING, out)
    assert report["fit_rows"] == 397  # train + validation buckets only
    rebuilt = Verifier.from_json(out.read_text())
    shipped = Verifier.from_json(VERIFIER_V3.read_text())
    assert rebuilt.version == shipped.version
    np.testing.assert_allclose(rebuilt.weights, shipped.weights, rtol=1e-6, atol=1e-9)
    assert rebuilt.value is not None and shipped.value is not None
    np.testing.assert_allclose(rebuilt.value.strong_weights, shipped.value.strong_weights,
                               rtol=1e-6, atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(rebuilt.value.length, shipped.value.length, rtol=1e-6)
    np.testing.assert_allclose(rebuilt.value.squash, shipped.value.squash, rtol=1e-6)


def test_scores_from_features_equal_the_request_path() -> None:
    """`train_verifier.scores` (from the precomputed feature matrix) is what `Verifier.score`
    computes per request: the bench and the CV measure the shipped decision."""
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    import gzip
    import json

    d = tv.load_verifier_data(ROUTING)
    shipped = Verifier.from_json(VERIFIER_V3.read_text())
    rows = np.zeros(len(d.ids), bool)
    rows[:40] = True
    batch = tv.scores(shipped, d, rows)
    with gzip.open(ROUTING / "gsm8k.dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        recs = [json.loads(next(fh)) for _ in range(40)]
    live = [shipped.score(r["messages"][0]["content"], r["outcomes"][tv.WEAK]["response"] or "")
            for r in recs]  # fmt: skip
    np.testing.assert_allclose(batch, live, rtol=1e-9)
