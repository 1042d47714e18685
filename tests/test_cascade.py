"""The in-request cascade's escalation decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbiter.cascade import (
    DEFAULT_VERIFIER,
    VERIFIER_FEATURES,
    VERIFIER_V3,
    Verifier,
    arithmetic_errors,
    load_verifier,
    min_answer_rule,
    short_answer,
    should_escalate,
    verified_escalation,
    verifier_features,
)

PROMPT = "Tom has 3 boxes of 12 pens and gives away 5. How many pens are left?"


def test_arithmetic_checker() -> None:
    assert arithmetic_errors("3 * 12 = 36 pens, 36 - 5 = 31") == 0
    assert arithmetic_errors("3 * 12 = 38 pens") == 1
    assert arithmetic_errors("$4 + $5 + 2 = $11 and (40 - 4) / 2 = 18") == 0
    assert arithmetic_errors("50 * 10 * 1.2 = 600") == 0  # a whole chain, not its tail
    assert arithmetic_errors("1,200 + 300 = 1,500; 10 / 3 = 3.33") == 0
    assert arithmetic_errors("5 / 0 = 7") == 0  # not checkable, not an error


def test_arithmetic_checker_operators_and_calculator_annotations() -> None:
    assert arithmetic_errors("2 x 60 = 120 GB, 2/3 \\* 60 = 40 minutes") == 0
    assert arithmetic_errors("2 x 60 = 110 GB") == 1
    assert arithmetic_errors("2/3 \\* 60 = 45 minutes") == 1
    assert arithmetic_errors("she pays 84 * 9/14 = $<<84*(9/14)=48>>48") == 1  # the annotation
    assert arithmetic_errors("that is <<80/120=2/3>>2/3 of an hour") == 0  # a fraction as value
    assert arithmetic_errors("<<3*12=36>>36 and <<36-5=31>>31") == 0


def test_arithmetic_checker_ignores_partial_steps() -> None:
    # the right side is itself an expression: "= 10" is not the claimed result
    assert arithmetic_errors("10 + 68 / 2 = 10 + 34 = 44") == 0
    assert arithmetic_errors("1,350 + 6 * 350 = 1,350 + 2,100 = 3,450") == 0
    assert arithmetic_errors("1,350 + 6 * 350 = 3,450 dollars") == 0  # not "= 3"
    # only the tail of a symbolic expression ("x * 2/5"), not a claim about 2/5
    assert arithmetic_errors("so x * 2/5 = 12.8 and x = 32") == 0
    assert arithmetic_errors("1000 \\* 1024 = 1,048,576") == 1


def test_good_math_answer_is_kept() -> None:
    esc, why = should_escalate("math", PROMPT, "3 * 12 = 36. 36 - 5 = 31.\n#### 31", "stop", None)
    assert not esc, why


def test_wrong_step_escalates() -> None:
    esc, why = should_escalate("math", PROMPT, "3 * 12 = 32. 32 - 5 = 27.\n#### 27", "stop", None)
    assert esc and "arithmetic" in why


def test_conflicting_finals_escalate() -> None:
    esc, why = should_escalate("math", PROMPT, "The answer is 31.\n#### 29", "stop", None)
    assert esc and "conflicting" in why


def test_grader_failures_escalate() -> None:
    assert should_escalate("math", PROMPT, "", "stop", None)[0]  # empty
    assert should_escalate("chat", "hi", "Hello there, how can I help?", "length", None)[0]
    esc, why = should_escalate(
        "extraction", "Return JSON", "not json", "stop", {"type": "json_object"}
    )
    assert esc and why.startswith("grader")


def test_hedging_and_loops_escalate() -> None:
    assert should_escalate("chat", "Who won?", "I'm not sure, maybe the blue team.", "stop", None)[
        0
    ]
    loop = "\n".join(["This is the same sentence over and over."] * 8)
    esc, why = should_escalate("chat", "Tell me", loop, "stop", None)
    assert esc and "repeats" in why


def test_plain_chat_answer_is_kept() -> None:
    esc, _ = should_escalate("chat", "Name a color.", "Blue is a calm color.", "stop", None)
    assert not esc


GOOD = "3 boxes of 12 is 3 * 12 = <<3*12=36>>36 pens.\n36 - 5 = <<36-5=31>>31 left.\n#### 31"
BAD = "3 boxes of 12 is 3 * 12 = <<3*12=38>>38 pens.\n38 - 5 = <<38-"


def test_verifier_features_shape_and_signals() -> None:
    good, bad = verifier_features(PROMPT, GOOD), verifier_features(PROMPT, BAD)
    assert len(good) == len(bad) == len(VERIFIER_FEATURES)
    names = dict(zip(VERIFIER_FEATURES, bad, strict=True))
    assert names["unclosed_calc"] == 1.0 and names["has_final"] == 0.0
    assert names["arith_errors"] >= 1.0
    assert dict(zip(VERIFIER_FEATURES, good, strict=True))["final_is_last_calc"] == 1.0
    assert dict(zip(VERIFIER_FEATURES, good, strict=True))["final_has_words"] == 0.0
    worded = verifier_features(PROMPT, GOOD.replace("#### 31", "#### 31 pens (or 2.5 dozen)"))
    assert dict(zip(VERIFIER_FEATURES, worded, strict=True))["final_has_words"] == 1.0


def test_shipped_verifier_ranks_and_round_trips(tmp_path: Path) -> None:
    v = load_verifier()
    assert v is not None and v.version.startswith("verifier-math")
    assert v.p_wrong(PROMPT, BAD) > v.p_wrong(PROMPT, GOOD)
    again = Verifier.from_json(v.to_json())
    assert again.p_wrong(PROMPT, GOOD) == pytest.approx(v.p_wrong(PROMPT, GOOD))
    assert again.score(PROMPT, BAD) == pytest.approx(v.score(PROMPT, BAD))
    assert load_verifier(tmp_path / "missing.json") is None


def test_verified_escalation_threshold_is_the_knob() -> None:
    v = load_verifier()
    assert v is not None
    p = v.score(PROMPT, GOOD)
    assert verified_escalation(v, p - 1e-6)("math", PROMPT, GOOD, "stop", None)[0]
    assert not verified_escalation(v, p + 1e-6)("math", PROMPT, GOOD, "stop", None)[0]
    assert verified_escalation(v, 0.99)("math", PROMPT, "", "stop", None)[0]  # no answer
    # other tasks keep the rule-based decision
    esc, _ = verified_escalation(v, 0.99)("chat", "Name a color.", "Blue.", "stop", None)
    assert not esc


def test_a_short_answer_escalates_only_below_the_configured_length() -> None:
    prompt = "Tell me about the history of the printing press."
    terse = "Gutenberg, about 1450."
    full = "The printing press " + "spread across Europe in the decades after 1450. " * 12
    assert should_escalate("chat", prompt, terse, "stop", None) == (False, "looks fine")
    esc, why = should_escalate("chat", prompt, terse, "stop", None, min_answer_tokens=40)
    assert esc and why.startswith("a short answer (6 < 40 tokens)")
    assert not should_escalate("chat", prompt, full, "stop", None, min_answer_tokens=40)[0]
    assert short_answer(None, 1) is not None and short_answer(full, 40) is None
    rule = min_answer_rule(40.0)  # what a replay sweeps
    assert rule("chat", prompt, terse, "stop", None)[0]
    assert not rule("chat", prompt, full, "stop", None)[0]


def test_chained_equals_feature() -> None:
    chained = GOOD.replace("36 - 5 = <<36-5=31>>31 left.", "36 - 5 = 31 - 0 = 31 left.")
    names = dict(zip(VERIFIER_FEATURES, verifier_features(PROMPT, chained), strict=True))
    assert names["chained_equals"] == 0.5  # two "=" on one line, out of a cap of 4
    plain = dict(zip(VERIFIER_FEATURES, verifier_features(PROMPT, "#### 31"), strict=True))
    assert plain["chained_equals"] == 0.0


def test_value_head_escalates_the_cheaper_of_two_equally_doubtful_answers() -> None:
    """v3: with the same P(wrong), the problem whose strong answer is expected to cost more is
    escalated later (gain per relative cost); the score stays in (0, 1) for the threshold."""
    v = load_verifier(VERIFIER_V3)
    assert v is not None and v.value is not None
    head = v.value
    z = [0.0] * len(v.weights)
    cheap = head.score(0.6, z, prompt_chars=200, answer_chars=300)
    dear = head.score(0.6, z, prompt_chars=200, answer_chars=3000)
    assert head.relative_cost(200, 3000) > head.relative_cost(200, 300)
    assert 0.0 < dear < cheap < 1.0
    # more doubt about the cheap answer, more reason to escalate
    assert head.score(0.9, z, 200, 300) > head.score(0.3, z, 200, 300)


def test_a_verifier_without_a_value_head_scores_p_wrong(tmp_path: Path) -> None:
    v = load_verifier(VERIFIER_V3)
    assert v is not None
    bare = Verifier(v.version, v.mean, v.std, v.weights, v.bias)
    assert bare.score(PROMPT, BAD) == bare.p_wrong(PROMPT, BAD)
    assert Verifier.from_json(bare.to_json()).value is None
    broken = json.loads(v.to_json())
    broken["value"]["strong_weights"] = [1.0]
    path = tmp_path / "v.json"
    path.write_text(json.dumps(broken))
    assert load_verifier(path) is None  # shapes checked: refused, not mis-scored


def test_the_previous_verifier_still_loads_and_scores_p_wrong() -> None:
    """verifier_math_v2.json (22 features, no value head) reads the first 22 features: the
    fallback a deployment can point at, and the bench's comparison row."""
    old = load_verifier(DEFAULT_VERIFIER.with_name("verifier_math_v2.json"))
    assert old is not None and old.value is None and len(old.weights) == 22
    assert old.score(PROMPT, BAD) == old.p_wrong(PROMPT, BAD) > old.p_wrong(PROMPT, GOOD)


def test_a_config_names_the_math_verifier_it_runs() -> None:
    """routing.cascade_math_verifier_file: a shipped name or a path, read strictly; "builtin" is
    v2 (the default the held-out rows chose)."""
    from arbiter.cascade import VERIFIER_V2, VERIFIER_V4, configured_verifier, verifier_path

    assert verifier_path("builtin") == verifier_path("v2") == VERIFIER_V2
    assert configured_verifier("v4").version == configured_verifier(str(VERIFIER_V4)).version
    assert configured_verifier("v4").version != configured_verifier("builtin").version
    with pytest.raises(OSError):
        configured_verifier("/nonexistent/verifier.json")


def test_v5_reads_named_columns_and_the_exact_step_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round nine: v5 reads v2's 22 features plus the step re-check's six, by name; a config
    names it as "v5", and the sidecar and the replay load it the same way."""
    from arbiter import cascade
    from arbiter.cascade import VERIFIER_V5, configured_verifier, verifier_path

    v5 = configured_verifier("v5")
    assert verifier_path("v5") == VERIFIER_V5 and v5.version == "verifier-math-v5-steps"
    assert v5.feature_names[:22] == VERIFIER_FEATURES[:22]
    assert "any_exact_wrong" in v5.feature_names and "chained_equals" not in v5.feature_names
    again = Verifier.from_json(v5.to_json())
    assert again.columns == v5.columns and again.p_wrong(PROMPT, BAD) == v5.p_wrong(PROMPT, BAD)
    # a step that is wrong only in exact arithmetic (0.08% off) raises v5's doubt, not v2's
    prompt = "A shop sells 1234 pens a day. How many pens does it sell in 5 days?"
    right = "1234 * 5 = 6170 pens.\n#### 6170"
    off = "1234 * 5 = 6175 pens.\n#### 6175"
    assert v5.p_wrong(prompt, off) > v5.p_wrong(prompt, right)
    names = dict(zip(VERIFIER_FEATURES, verifier_features(prompt, off), strict=True))
    assert names["arith_errors"] == 0.0 and names["any_exact_wrong"] == 1.0
    # v2 never pays for the step check: its features stop before round nine's
    calls: list[str] = []
    monkeypatch.setattr(cascade, "check_steps", lambda t: calls.append(t) or (1 / 0))
    v2 = configured_verifier("v2")
    assert v2.columns == () and 0.0 < v2.p_wrong(prompt, off) < 1.0 and calls == []
    with pytest.raises(ZeroDivisionError):
        v5.p_wrong(prompt, off)


def test_a_verifier_naming_unknown_or_repeated_features_is_refused() -> None:
    v5 = json.loads(configured_verifier_json("v5"))
    for names in (
        [*v5["features"][:-1], "no_such_feature"],
        [*v5["features"][:-1], v5["features"][0]],
    ):
        with pytest.raises(ValueError, match="features do not match"):
            Verifier.from_json(json.dumps({**v5, "features": names}))
    v4 = json.loads(configured_verifier_json("v4"))
    swapped = [v4["features"][1], v4["features"][0], *v4["features"][2:]]
    with pytest.raises(ValueError, match="prefix"):  # a cost head reads the prefix it was fit on
        Verifier.from_json(json.dumps({**v4, "features": swapped}))
    # a value head reads the columns its file names (v6, gsm13): swapped names are read as named
    v3 = json.loads(configured_verifier_json("v3"))
    swapped = [v3["features"][1], v3["features"][0], *v3["features"][2:]]
    named = Verifier.from_json(json.dumps({**v3, "features": swapped}))
    assert named.columns[:2] == (1, 0) and named.feature_names == tuple(swapped)


def configured_verifier_json(name: str) -> str:
    from arbiter.cascade import verifier_path

    return verifier_path(name).read_text()
