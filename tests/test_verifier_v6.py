"""Verifier v6 (gsm13, issue 17): v5's P(cheap wrong) and a P(strong right) head over the same
named columns, escalating by the fix's expected gain. A config names it as "v6"; the sidecar's
cascade rule and `arbiter replay --routing-config` read it through the same loader and make the
same choice for the same answer (bench/routing_gsm13_dollars.py)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from arbiter.cascade import VERIFIER_V6, Verifier, configured_verifier, verifier_path
from arbiter.cascade_gain import answer_rule
from arbiter.difficulty import split_of
from arbiter.math_value import ValueHead
from arbiter.offline import outcome_table as ot
from arbiter.offline import replay_cli
from arbiter.offline import train_verifier as tv
from arbiter.offline import train_verifier_steps as ts
from arbiter.routing_file import load_routing
from tests.shared_data import ROUTING, require_shared

PROMPT = "Tom has 3 boxes of 12 pens and gives away 5 pens. How many pens does he have left?"
ANSWER = "3 * 12 = 36 pens. 36 - 5 = 31.\n#### 31"
V6_TOML = (
    '[routing]\ncascade_tasks = ["math"]\ncascade_all = true\ncascade_math_verifier = 0.26\n'
    'cascade_math_verifier_file = "v6"\n'
)


def _named_columns_with_gain_head() -> Verifier:
    head = ValueHead((0.0, 1.5), -0.2, (4.0, 0.1, 0.2), 1 / 3, 300.0, 0.0, (3.0, 0.1))
    return Verifier("test-v6", (0.0, 0.0), (1.0, 1.0), (0.7, 0.0), 0.4, head,
                    columns=(2, 26))  # fmt: skip


def test_a_gain_head_over_named_columns_loads_and_scores_the_expected_gain() -> None:
    """Before v6 a verifier with a value head had to read a prefix of the features; v6 names
    its columns (v5's), and its score is the squashed P(cheap wrong) - P(strong wrong)."""
    v = Verifier.from_json(_named_columns_with_gain_head().to_json())
    assert v.columns == (2, 26) and v.value is not None
    x = v.features(PROMPT, ANSWER)
    z = [x[2], x[26]]
    p_wrong = 1 / (1 + math.exp(-(0.4 + 0.7 * z[0])))
    p_strong_right = 1 / (1 + math.exp(-(-0.2 + 1.5 * z[1])))
    gain = p_strong_right - (1 - p_wrong)
    assert v.score(PROMPT, ANSWER) == pytest.approx(1 / (1 + math.exp(-3.0 * (gain - 0.1))))
    doc = json.loads(v.to_json())
    with pytest.raises(ValueError, match="cost head"):  # a cost head still reads a prefix
        Verifier.from_json(json.dumps({**{k: doc[k] for k in doc if k != "value"},
                                       "cost": {"log_cost": [0, 0, 0], "cost_ref": 1,
                                                "alpha": 0.5}}))  # fmt: skip


def test_v6_is_shipped_under_its_name() -> None:
    v6 = configured_verifier("v6")
    assert verifier_path("v6") == VERIFIER_V6 and v6.version == "verifier-math-v6-gain"
    assert v6.value is not None and v6.value.alpha == 0.0
    v5 = configured_verifier("v5")
    assert v6.columns == v5.columns and v6.weights == v5.weights  # v5's P(wrong), unchanged


def test_fit_on_train_rows_reproduces_the_shipped_v6() -> None:
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    d = tv.load_verifier_data(ROUTING)
    train = np.where([split_of(i) != "heldout" for i in d.ids])[0]
    assert len(train) == 397
    shipped = configured_verifier("v6")
    rebuilt = ts.fit_gain(d, train, shipped.columns, shipped.version)
    assert shipped.value is not None and rebuilt.value is not None
    np.testing.assert_allclose(rebuilt.value.strong_weights, shipped.value.strong_weights,
                               rtol=1e-6, atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(rebuilt.value.squash, shipped.value.squash, rtol=1e-6)
    # the score ranks by P(cheap wrong) - P(strong wrong), the lever the bench chose
    s = ts.score(shipped, d, train)
    p = ts.p_wrong(shipped, d, train)
    cols = list(shipped.columns)
    z = (d.x[train][:, cols] - np.asarray(shipped.mean)) / np.asarray(shipped.std)
    p_sr = 1 / (1 + np.exp(-(z @ np.asarray(shipped.value.strong_weights)
                             + shipped.value.strong_bias)))  # fmt: skip
    assert (np.argsort(-s, kind="stable") == np.argsort(-(p - (1 - p_sr)), kind="stable")).all()


def _gsm8k_rows(n: int) -> list[tuple[str, str]]:
    with gzip.open(ROUTING / "gsm8k.dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        recs = [json.loads(next(fh)) for _ in range(n)]
    return [("\n\n".join(m["content"] for m in r["messages"]),
             r["outcomes"][tv.WEAK]["response"] or "") for r in recs]  # fmt: skip


def test_the_request_path_scores_what_the_bench_scores() -> None:
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    d = tv.load_verifier_data(ROUTING)
    v6 = configured_verifier("v6")
    fast = ts.score(v6, d, np.arange(40))
    slow = [v6.score(prompt, answer) for prompt, answer in _gsm8k_rows(40)]
    np.testing.assert_allclose(fast, slow, rtol=1e-9)


def test_the_sidecar_and_the_replay_make_the_same_choice(tmp_path: Path) -> None:
    """One [routing] file: the sidecar's cascade rule (pipeline: `answer_rule` over the verifier
    `services` loads) and the replay's (`replay_cli.from_routing`) escalate the same answers, and
    v6 escalates a different set from v5 at the same share, so the test sees which file ran."""
    require_shared(ROUTING / "gsm8k.dev.jsonl.gz")
    models = ot.load_models(ROUTING / "routellm.models.json")
    table = ot.load_table(ROUTING / "gsm8k.dev.jsonl.gz", models)
    ids = [m.id for m in table.models]
    rows = _gsm8k_rows(120)
    chosen: dict[str, list[bool]] = {}
    for spec in ("v6", "v5"):
        path = tmp_path / f"{spec}.toml"
        path.write_text(V6_TOML.replace('"v6"', f'"{spec}"'))
        routing = load_routing(path, ids)
        sidecar = answer_rule(
            routing, "math", configured_verifier(routing.cascade_math_verifier_file)
        )
        cfg, _ = replay_cli.from_routing(routing, table)
        assert cfg.cascade is not None
        replay = cfg.cascade.rule("math", None, None)
        side = [sidecar("math", p, a, "stop", None)[0] for p, a in rows]
        assert side == [replay("math", p, a, "stop", None)[0] for p, a in rows]
        chosen[spec] = side
    assert 0 < sum(chosen["v6"]) < len(rows) and chosen["v6"] != chosen["v5"]
