"""Verifier v5 (round nine) is reproduced by its fit on GSM8K's train rows, and the bench's
P(wrong) from the feature matrix is what the request path computes."""

from __future__ import annotations

import gzip
import json

import numpy as np

from arbiter.cascade import VERIFIER_V5, Verifier
from arbiter.difficulty import split_of
from arbiter.offline import train_verifier as tv
from arbiter.offline import train_verifier_steps as ts
from tests.shared_data import ROUTING, require_shared


def test_fit_on_train_rows_reproduces_the_shipped_v5() -> None:
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    d = tv.load_verifier_data(ROUTING)
    train = np.where([split_of(i) != "heldout" for i in d.ids])[0]
    assert len(train) == 397
    shipped = Verifier.from_json(VERIFIER_V5.read_text())
    rebuilt = ts.fit(d, train, shipped.columns, shipped.version)
    assert rebuilt.columns == shipped.columns
    np.testing.assert_allclose(rebuilt.weights, shipped.weights, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rebuilt.bias, shipped.bias, rtol=1e-6)


def test_p_wrong_from_features_equals_the_request_path() -> None:
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    d = tv.load_verifier_data(ROUTING)
    shipped = Verifier.from_json(VERIFIER_V5.read_text())
    rows = np.arange(40)
    fast = ts.p_wrong(shipped, d, rows)
    with gzip.open(ROUTING / "gsm8k.dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        recs = [json.loads(next(fh)) for _ in rows]
    slow = [shipped.score("\n\n".join(m["content"] for m in r["messages"]),
                          r["outcomes"][tv.WEAK]["response"] or "") for r in recs]  # fmt: skip
    np.testing.assert_allclose(fast, slow, rtol=1e-9)
