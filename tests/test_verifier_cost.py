"""Verifier v4: v2's P(cheap wrong) over the strong call's expected relative cost ** alpha."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from arbiter.cascade import VERIFIER_V2, VERIFIER_V3, VERIFIER_V4, Verifier, load_verifier
from arbiter.math_value import CostHead
from arbiter.offline import train_verifier as tv
from arbiter.offline import train_verifier_cost as tc
from tests.shared_data import ROUTING, require_shared

PROMPT = "Tom has 3 boxes of 12 pens and gives away 5. How many pens are left?"
BAD = "Tom has 3 * 12 = 38 pens. 38 - 5 = 33\n#### 33"


def test_the_cost_head_escalates_the_cheaper_of_two_equally_doubtful_answers() -> None:
    head = CostHead((-10.0, 0.5, 0.3), cost_ref=1e-4, alpha=0.5)
    short, long = head.score(0.5, 5.0, 5.0), head.score(0.5, 5.0, 7.0)
    assert head.relative_cost(5.0, 7.0) > head.relative_cost(5.0, 5.0)
    assert 0.0 < long < short <= 1.0
    assert head.score(0.9, 5.0, 5.0) > head.score(0.3, 5.0, 5.0)  # P(wrong) still leads
    assert head.score(1.0, 0.0, 0.0) == 1.0  # capped: still a threshold in [0, 1]
    flat = CostHead(head.log_cost, head.cost_ref, alpha=0.0)
    assert flat.score(0.37, 5.0, 7.0) == 0.37  # alpha 0 is v2's order


def test_v4_loads_round_trips_and_keeps_v2s_p_wrong() -> None:
    v4, v2 = load_verifier(VERIFIER_V4), load_verifier(VERIFIER_V2)
    assert v4 is not None and v2 is not None and v4.cost is not None and v4.value is None
    # the same P(cheap wrong) head (refitted: equal up to rounding)
    np.testing.assert_allclose(v4.weights, v2.weights, rtol=1e-9)
    np.testing.assert_allclose(v4.p_wrong(PROMPT, BAD), v2.p_wrong(PROMPT, BAD), rtol=1e-9)
    assert Verifier.from_json(v4.to_json()) == v4
    cheaper = v4.cost.relative_cost(4.0, 4.0) < 1.0  # a short problem costs under the mean
    assert cheaper and v4.score(PROMPT, BAD) > v4.p_wrong(PROMPT, BAD)


def test_a_malformed_cost_head_is_refused(tmp_path: Path) -> None:
    v4 = load_verifier(VERIFIER_V4)
    v3 = load_verifier(VERIFIER_V3)
    assert v4 is not None and v3 is not None
    path = tmp_path / "v.json"
    for change in ({"alpha": -1.0}, {"cost_ref": 0.0}, {"log_cost": [1.0, 2.0]}):
        doc = json.loads(v4.to_json())
        doc["cost"] |= change
        path.write_text(json.dumps(doc))
        assert load_verifier(path) is None, change
    both = json.loads(v3.to_json()) | {"cost": json.loads(v4.to_json())["cost"]}
    path.write_text(json.dumps(both))
    assert load_verifier(path) is None  # a value head or a cost head, not both


def test_alpha_is_the_largest_lower_bound_on_the_gain() -> None:
    report = {
        "alpha 0": {"boot_gain_min": 0.0, "boot_sd_min": 0.0},
        "alpha 0.5": {"boot_gain_min": 0.010, "boot_sd_min": 0.008},  # bound +0.002
        "alpha 1": {"boot_gain_min": 0.012, "boot_sd_min": 0.016},  # larger mean, bound -0.004
    }
    assert tc.choose_alpha(report) == 0.5
    report["alpha 0.5"]["boot_sd_min"] = 0.02
    assert tc.choose_alpha(report) == 0.0  # no sure gain: v2's order


def test_training_reproduces_the_shipped_v4(tmp_path: Path) -> None:
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    out = tmp_path / "v4.json"
    report = tc.train(ROUTING, out)
    assert report["fit_rows"] == 397  # train + validation buckets only
    rebuilt, shipped = Verifier.from_json(out.read_text()), load_verifier(VERIFIER_V4)
    assert shipped is not None and rebuilt.cost is not None and shipped.cost is not None
    assert rebuilt.version == shipped.version
    np.testing.assert_allclose(rebuilt.weights, shipped.weights, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rebuilt.cost.log_cost, shipped.cost.log_cost, rtol=1e-6)
    np.testing.assert_allclose(rebuilt.cost.cost_ref, shipped.cost.cost_ref, rtol=1e-6)
    assert rebuilt.cost.alpha == shipped.cost.alpha == tc.ALPHA


def test_scores_from_features_equal_the_request_path() -> None:
    """`train_verifier_cost.scores` (the CV's and the bench's) is what `Verifier.score` computes
    per request."""
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    d = tv.load_verifier_data(ROUTING)
    v4 = load_verifier(VERIFIER_V4)
    assert v4 is not None
    rows = np.zeros(len(d.ids), bool)
    rows[:40] = True
    batch = tc.scores(v4, d, rows)
    with gzip.open(ROUTING / "gsm8k.dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        recs = [json.loads(next(fh)) for _ in range(40)]
    live = [
        v4.score(r["messages"][0]["content"], r["outcomes"][tv.WEAK]["response"] or "")
        for r in recs
    ]
    np.testing.assert_allclose(batch, live, rtol=1e-9)
