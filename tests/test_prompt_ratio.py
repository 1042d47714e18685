"""prompt_ratio.PromptRatios: what a model's upstream bills for a prompt, learnt from its last
calls (a fixed part and a ratio: tests/test_prompt_ratio_affine.py), and CallWorst reserving
the prompt's text at it (probe22b)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter import config
from arbiter.config import ModelSettings
from arbiter.errors import ConfigError
from arbiter.prompt_ratio import CEILING, MAX_FIXED, WINDOW, PromptRatios, scaled
from arbiter.worst_case import CallWorst


def test_unseen_model_and_shorter_counts_read_one() -> None:
    r = PromptRatios()
    assert r.tokens("m", 100) == 100
    r.observe("m", 100, 80)  # the upstream counted shorter: ours already covers it
    r.observe("m", 0, 50)  # nothing counted: nothing to learn
    r.observe("m", 100, 0)
    assert r.tokens("m", 100) == 100


def test_largest_of_the_window_kept_and_aged_out() -> None:
    r = PromptRatios()
    r.observe("m", 100, 130)
    r.observe("m", 100, 110)
    r.observe("other", 100, 300)
    assert r.tokens("m", 100) == 130
    assert r.tokens("other", 100) == 300
    for _ in range(WINDOW - 2):  # the window is full, 130 its oldest: one more call drops it
        r.observe("m", 100, 110)
    assert r.tokens("m", 100) == 130
    r.observe("m", 100, 110)
    assert r.tokens("m", 100) == 110


def test_a_count_no_tokenizer_gives_is_held_at_the_ceiling() -> None:
    r = PromptRatios()
    r.observe("m", 10, 10**7)
    assert r.tokens("m", 10) == CEILING * 10 + MAX_FIXED


def test_call_worst_reserves_the_prompt_text_at_the_ratio() -> None:
    m = ModelSettings(name="m", upstream="u", price_in_per_mtok=1e6, price_out_per_mtok=0.0)
    body = {"messages": [{"role": "user", "content": "hello there " * 50}]}
    plain = CallWorst(lambda _: m, body, 10, None)
    ratios = PromptRatios()
    worst = CallWorst(lambda _: m, body, 10, None, learnt=ratios.tokens)
    assert worst("m") == plain("m")  # nothing learnt: o200k's count
    ratios.observe("m", plain.prompt_tokens, plain.prompt_tokens * 3 // 2)
    assert worst("m") == pytest.approx(plain("m") * 1.5, abs=1.0)  # $1 a token
    # a cut stream's charge may reach the raised worst case, never pass it
    assert worst.capped("m", 10) <= worst("m")


def test_scaled_never_fewer_and_rounded_up() -> None:
    assert scaled(100, 1.0) == 100
    assert scaled(100, 0.5) == 100
    assert scaled(100, 1.301) == 131
    assert scaled(0, 3.0) == 0


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arbiter.toml"
ENV = {"SIM_API_KEY": "sk-test", "ARBITER_ADMIN_KEY": "adm-test"}


@pytest.mark.parametrize(("value", "ok"), [("1.3", True), ("0.5", False), ("5.0", False)])
def test_a_models_prompt_token_ratio_is_read_in_its_range(value: str, ok: bool) -> None:
    header = "[models.sim-tiny]\n"
    text = EXAMPLE.read_text().replace(header, header + f"prompt_token_ratio = {value}\n", 1)
    if ok:
        s = config.loads(text, env=ENV, source="arbiter.toml")
        assert s.models["sim-tiny"].prompt_token_ratio == 1.3
        assert s.models["sim-small"].prompt_token_ratio == 1.0
        return
    with pytest.raises(ConfigError, match=r"arbiter.toml:\d+: .*prompt_token_ratio.*\[1, 4\]"):
        config.loads(text, env=ENV, source="arbiter.toml")


def test_call_worst_reserves_at_least_the_configured_ratio() -> None:
    m = ModelSettings(
        name="m", upstream="u", price_in_per_mtok=1e6, price_out_per_mtok=0.0,
        prompt_token_ratio=2.0,
    )  # fmt: skip
    body = {"messages": [{"role": "user", "content": "hello there " * 50}]}
    ratios = PromptRatios()
    worst = CallWorst(lambda _: m, body, 10, None, learnt=ratios.tokens)
    assert worst("m") == pytest.approx(2 * worst.prompt_tokens * 1.0, abs=1.0)
    ratios.observe("m", 100, 300)  # the calls show more: the larger wins
    assert worst("m") == pytest.approx(3 * worst.prompt_tokens * 1.0, abs=1.0)


def test_the_configured_ratio_holds_without_a_learnt_one() -> None:
    """Arbiter's own calls (a judge's) and a cut pass-through stream's bound: no learnt ratio
    handed in, the model's configured one still counts."""
    m = ModelSettings(
        name="m", upstream="u", price_in_per_mtok=1e6, price_out_per_mtok=0.0,
        prompt_token_ratio=2.0,
    )  # fmt: skip
    body = {"messages": [{"role": "user", "content": "hello there " * 50}]}
    worst = CallWorst(lambda _: m, body, 10, None)
    assert worst("m") == pytest.approx(2 * worst.prompt_tokens * 1.0, abs=1.0)
