"""reference.py: agreement with a reference answer (choice letters, numbers, short answers,
calibrated semantic similarity) and the operator's references file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from arbiter.config import ReferenceSettings
from arbiter.errors import ConfigError
from arbiter.reference import (
    Calibration,
    ReferenceGrader,
    from_settings,
    load_references,
    local_embedder,
    prompt_key,
)

NONE = ReferenceGrader(None)


def score(answer: str, reference: str, grader: ReferenceGrader = NONE) -> float | None:
    g = grader.grade(answer, reference)
    return None if g is None else g.score


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("B", "B", 1.0),
        ("(c) Mitochondria", "C", 1.0),
        ("The answer is D.", "d", 1.0),
        ("A. Paris", "(B)", 0.0),
        ("I cannot tell.", "B", 0.0),
        ("So the total is $1,250.50", "1250.5", 1.0),
        ("x = 3/4", "0.75", 1.0),
        ("The result: 3.33", "10/3", 1.0),  # a correctly rounded decimal
        ("Is it 42? No: it costs 41 dollars.", "42", 0.0),  # the final number counts
        ("I think the answer is B", "B", 1.0),
        ("A good guess: C.", "A", 0.0),
        ("#### 18", "18", 1.0),
        ("no numbers here", "7", 0.0),
        ("Paris", "paris.", 1.0),
        ("The capital of France is Paris.", "Paris", 1.0),
        ("The Eiffel-Tower!", "eiffel tower", 1.0),
        ("Lyon", "Paris", 0.0),
        ("", "Paris", 0.0),
    ],
)
def test_exact_and_numeric_agreement(answer: str, reference: str, expected: float) -> None:
    assert score(answer, reference) == expected


def test_a_short_reference_inside_a_long_answer_is_likely_not_sure() -> None:
    long = "Many think of Lyon or Marseille. " * 20 + "But the capital is Paris."
    assert score(long, "Paris") == 0.75


def bag_of_words(texts: Sequence[str]) -> npt.NDArray[np.float64]:
    """A small real embedding (hashed word counts): enough to test the plumbing."""
    out = np.zeros((len(texts), 64))
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, sum(map(ord, w)) % 64] += 1.0
    return out


def test_free_text_is_a_calibrated_probability_not_a_raw_cosine() -> None:
    cal = Calibration(slope=8.0, intercept=-6.0)
    grader = ReferenceGrader(bag_of_words, cal)
    ref = "the moon pulls the oceans and the earth turns through the bulges of water"
    same = grader.grade(ref, ref)
    near = grader.grade("the moon pulls the oceans so water bulges as the earth turns", ref)
    far = grader.grade("preheat the oven and whisk two eggs with sugar for a sponge cake", ref)
    assert same is not None and near is not None and far is not None
    assert same.grader == "reference" and "semantic: cosine 1.000" in same.detail
    assert same.score == pytest.approx(cal(1.0))  # the calibrated value, not 1.0
    assert same.score > near.score > far.score
    assert score(ref, ref) is None  # no embedder: no grade for free text (the judge decides)


def test_an_embedder_that_turns_out_missing_gives_no_grade() -> None:
    embed = local_embedder()
    if embed is None:
        pytest.skip("arbiter.embedding is not part of this build")
    grader = ReferenceGrader(embed)
    g = grader.grade("The moon's gravity raises the tides.", "Tides come from the moon's pull.")
    assert g is None or 0.0 <= g.score <= 1.0


def test_the_operators_references_file(tmp_path: Path) -> None:
    path = tmp_path / "refs.jsonl"
    path.write_text(
        '{"prompt": "What is  the capital\\nof France?", "reference": "Paris"}\n\n'
        '{"prompt": "2+2?", "reference": "4"}\n'
    )
    refs = load_references(path)
    assert refs[prompt_key("What is the capital of France?")] == "Paris"
    grader, registered = from_settings(ReferenceSettings(file=str(path), semantic=False))
    assert registered == refs and not grader.semantic
    path.write_text('{"prompt": "x"}\n')
    with pytest.raises(ConfigError, match=r"refs.jsonl:1: needs string 'prompt'"):
        from_settings(ReferenceSettings(file=str(path)))
    custom, _ = from_settings(ReferenceSettings(calibration_slope=2.0, semantic=False))
    assert custom.calibration.slope == 2.0


def test_the_benchs_calibration_fit_and_rank_correlation() -> None:
    """bench/reference_grading.py: the logistic fit recovers a known calibration from soft
    labels, and Spearman handles ties (the labels have many)."""
    from tests.bench_scripts import load

    bench = load("reference_grading")
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, 20_000)
    truth = Calibration(6.0, -4.0)
    y = np.array([truth(v) for v in x])
    fit = bench.fit_logistic(x, y)
    assert fit.slope == pytest.approx(6.0, abs=1e-3) and fit.intercept == pytest.approx(
        -4.0, abs=1e-3
    )
    assert bench.spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 5.0, 5.0, 9.0])) == 1.0
    curve = bench.reliability(np.array([truth(v) for v in x]), y, bins=4)
    assert [b["n"] for b in curve] == [5000] * 4
    assert all(abs(b["predicted"] - b["observed"]) < 1e-9 for b in curve)


def test_embedding_work_is_bounded_not_queued() -> None:
    """Past `max_embedding` embeddings at once, a free-text answer gets no reference grade."""
    import threading

    inside, release = threading.Event(), threading.Event()

    def slow(texts: Sequence[str]) -> npt.NDArray[np.float64]:
        inside.set()
        release.wait(10)
        return bag_of_words(texts)

    grader = ReferenceGrader(slow, max_embedding=1)
    ref = "a long enough reference answer about the moon and the tides"
    first = threading.Thread(target=grader.grade, args=("the moon and tides again", ref))
    first.start()
    assert inside.wait(10)
    assert grader.grade("another answer about the moon", ref) is None
    assert grader.skipped_busy == 1
    release.set()
    first.join(10)
    assert grader.grade("the moon and tides", ref) is not None
