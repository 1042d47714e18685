"""Expected output length per (model, prompt), and the cost-weighted (best value) routing rule."""

from __future__ import annotations

import numpy as np
import pytest

from arbiter.difficulty import prompt_stats, prompt_stats_and_shape
from arbiter.output_length import (
    N_FEATURES,
    LengthPrior,
    OutputLength,
    fit_prior,
    stats_array,
)
from arbiter.routing import PoolModel, Router, RouteRequest, RouterParams

SHORT = "Is 7 a prime number?"
ESSAY = (
    "Write a detailed essay on the history of the printing press in Europe, covering its "
    "inventors, its spread between 1450 and 1600, and its effects on religion, science and "
    "literacy. Use several sections with headings and give examples from at least five cities."
)


def test_prompt_stats_are_the_sixteen_text_statistics_with_a_bias() -> None:
    x = stats_array(prompt_stats(ESSAY))
    assert len(prompt_stats(ESSAY)) == 4 * N_FEATURES
    assert x.shape == (N_FEATURES,) and x.dtype == np.float64
    assert x[-1] == 1.0
    assert x[0] > stats_array(prompt_stats(SHORT))[0]  # log length of the text


def test_the_weak_prior_predicts_the_configured_tokens_for_any_prompt() -> None:
    lengths = OutputLength(350)
    for text in (SHORT, ESSAY):
        assert lengths.expected("m", prompt_stats(text)) == pytest.approx(350, rel=1e-9)


def test_it_learns_each_models_length_per_prompt_from_usage() -> None:
    lengths = OutputLength(350)
    short, essay = prompt_stats(SHORT), prompt_stats(ESSAY)
    rng = np.random.default_rng(0)
    for _ in range(60):
        lengths.observe("verbose", short, int(rng.integers(60, 90)))
        lengths.observe("verbose", essay, int(rng.integers(900, 1200)))
        lengths.observe("concise", short, int(rng.integers(5, 15)))
        lengths.observe("concise", essay, int(rng.integers(150, 250)))
    v_short, v_essay = lengths.expected("verbose", short), lengths.expected("verbose", essay)
    c_short, c_essay = lengths.expected("concise", short), lengths.expected("concise", essay)
    # The prior shrinks the per-prompt part (two prompts, 16 features): ordered, near the truth.
    assert 5 * v_short < v_essay and 5 * c_short < c_essay
    assert 3 * c_short < v_short and 3 * c_essay < v_essay
    assert 40 < v_short < 160 and 600 < v_essay < 1600, (v_short, v_essay)
    assert 3 < c_short < 30 and 100 < c_essay < 400, (c_short, c_essay)
    pool = lengths.expected("unseen", essay)  # the pool's view: between the two models
    assert c_essay < pool < v_essay


def test_a_model_without_calls_is_predicted_by_the_pool() -> None:
    lengths = OutputLength(350)
    short, essay = prompt_stats(SHORT), prompt_stats(ESSAY)
    for _ in range(40):
        lengths.observe("a", short, 10)
        lengths.observe("a", essay, 900)
    # "b" never answered: it borrows what the pool learned, not the 350-token default, so a
    # short prompt does not look expensive on it (it would never be tried if it did)
    assert lengths.expected("b", short) < 60 < 400 < lengths.expected("b", essay)
    # its own regression starts from the pool's and then follows its own answers
    for _ in range(40):
        lengths.observe("b", short, 100)
    assert 60 < lengths.expected("b", short) < 200


def test_thompson_draws_spread_an_uncertain_length_and_not_a_known_one() -> None:
    lengths = OutputLength(350)
    short = prompt_stats(SHORT)
    fresh = [lengths.expected("m", short, d) for d in (-2.0, 0.0, 2.0)]
    assert fresh[0] < fresh[1] / 5 and fresh[2] > fresh[1] * 5
    for _ in range(500):
        lengths.observe("m", short, 50)
    known = [lengths.expected("m", short, d) for d in (-2.0, 0.0, 2.0)]
    assert known[2] / known[0] < 1.5


def test_observations_without_tokens_or_weight_teach_nothing() -> None:
    lengths = OutputLength(350)
    lengths.observe("m", prompt_stats(SHORT), -1)
    lengths.observe("m", prompt_stats(SHORT), 10, weight=0.0)
    assert lengths.expected("m", prompt_stats(SHORT)) == pytest.approx(350, rel=1e-9)


def test_a_fitted_prior_warm_starts_and_survives_json() -> None:
    stats = [prompt_stats(SHORT)] * 20 + [prompt_stats(ESSAY)] * 20
    prior = fit_prior(stats, [20] * 20 + [600] * 20)
    again = LengthPrior.from_json(prior.to_json())
    assert again.weights == pytest.approx(prior.weights, abs=1e-5)
    lengths = OutputLength(350, {"m": again})
    short, essay = (
        lengths.expected("m", prompt_stats(SHORT)),
        lengths.expected("m", prompt_stats(ESSAY)),
    )
    assert 10 < short < 60 and 300 < essay < 900, (short, essay)  # vs 350 for both unfitted


@pytest.mark.parametrize(
    "doc",
    [
        {"weights": [0.0] * 3, "precision": [[1.0] * 3] * 3, "noise_var": 1.0},
        {"weights": [0.0] * 16, "precision": [[1.0] * 16] * 15, "noise_var": 1.0},
        {"weights": [0.0] * 16, "precision": [[1.0] * 16] * 16, "noise_var": 0.0},
        {"weights": "0" * 16, "precision": [[1.0] * 16] * 16, "noise_var": 1.0},
        {"weights": [0.0] * 16, "noise_var": 1.0},
    ],
)
def test_a_malformed_prior_is_refused(doc: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LengthPrior.from_json(doc)


def _two_models() -> list[PoolModel]:
    # Same prices: only their answer lengths make one dearer than the other.
    return [
        PoolModel("chatty", 5.0, 15.0, 100_000, frozenset(), {"chat": 0.8}),
        PoolModel("terse", 5.0, 15.0, 100_000, frozenset(), {"chat": 0.8}),
    ]


def test_cost_estimates_follow_the_learned_length_and_respect_max_tokens() -> None:
    router = Router(_two_models(), RouterParams(baseline="chatty", explore=0.0))
    essay = prompt_stats(ESSAY)
    for _ in range(40):
        router.lengths.observe("chatty", essay, 1000)
        router.lengths.observe("terse", essay, 100)
    dec = router.decide(RouteRequest("t", "chat", 50, None, stats=essay))
    cost = {c.model: c.est_cost_usd for c in dec.candidates}
    assert cost["chatty"] > 5 * cost["terse"]
    capped = router.decide(RouteRequest("t", "chat", 50, 64, stats=essay))
    cost = {c.model: c.est_cost_usd for c in capped.candidates}
    assert cost["chatty"] == pytest.approx((50 * 5.0 + 64 * 15.0) / 1e6)


def test_best_value_follows_each_prompts_expected_cost() -> None:
    pool = [
        PoolModel("strong", 10.0, 30.0, 100_000, frozenset(), {"chat": 0.9}),
        PoolModel("cheap", 0.2, 0.6, 100_000, frozenset(), {"chat": 0.8}),
    ]
    essay, short = prompt_stats(ESSAY), prompt_stats(SHORT)
    lengths = OutputLength(350)
    for _ in range(40):  # the strong model writes essays at length, short answers briefly
        lengths.observe("strong", essay, 2000)
        lengths.observe("strong", short, 5)

    def decide(cost_weight: float, stats: bytes) -> tuple[str, dict[str, float]]:
        params = RouterParams(baseline="strong", explore=0.0, cost_weight=cost_weight)
        dec = Router(pool, params, lengths=lengths).decide(
            RouteRequest("t", "chat", 40, None, stats=stats)
        )
        assert dec.reason.startswith("chat:") and "best value" in dec.reason
        return dec.chosen, {c.model: c.est_cost_usd for c in dec.candidates}

    # The weight at which the strong model stops paying for itself, per prompt: 0.1 quality
    # over the cost difference (USD per 1,000 requests).
    _, c_essay = decide(1e-9, essay)
    _, c_short = decide(1e-9, short)
    w_essay = 0.1 / (1000 * (c_essay["strong"] - c_essay["cheap"]))
    w_short = 0.1 / (1000 * (c_short["strong"] - c_short["cheap"]))
    assert w_essay < w_short / 5  # the essay is far dearer on the strong model
    w = (w_essay * w_short) ** 0.5
    assert decide(w, essay)[0] == "cheap"
    assert decide(w, short)[0] == "strong"
    assert decide(w_short * 2, short)[0] == "cheap"
    assert decide(w_essay / 2, essay)[0] == "strong"


# -- the spread a latency quantile reads (bench/results/latency_slo.md) ---------------------------
def test_the_latency_spread_counts_long_answers_not_answers_cut_short() -> None:
    lengths = OutputLength(350)
    stats = prompt_stats("Please help me with the following request about the garden.")
    rng = np.random.default_rng(2)
    for i in range(200):
        # one answer in ten is a refusal of 8 tokens; the others 90-110 tokens
        n = 8 if i % 10 == 0 else int(rng.integers(90, 111))
        lengths.observe("m", stats, n)
    mu, var = lengths.log_moments("m", stats)
    p90 = np.expm1(mu + 1.2816 * np.sqrt(var))
    # the true p90 of the length is ~108 tokens; the refusals' spread (a log variance of ~0.55
    # around the mean) put it near 210 when the full variance was read
    assert 100 < p90 < 140, (p90, mu, var)
    # the cost side still reads the full spread: a mean, which the refusals do lower
    assert lengths.expected("m", stats) < 110


def test_a_tasks_answers_correct_the_length_a_latency_quantile_reads() -> None:
    """Prompts that look alike to the text statistics, with answers of different kinds: the
    request's task (the classifier's) corrects the prediction by that task's median miss and
    its spread above it. Answers cut short (one chat answer in twenty) do not lower chat's
    center or widen its upper spread."""
    lengths = OutputLength(350)
    stats = prompt_stats("Please help me with the following request about the garden.")
    rng = np.random.default_rng(3)
    for i in range(800):  # (the window: each task's last 200, after the regression settled)
        if i % 2:
            lengths.observe("m", stats, int(rng.integers(11, 17)), task="translation")
        else:
            n = 8 if i % 40 == 0 else int(rng.integers(80, 118))
            lengths.observe("m", stats, n, task="chat")

    def p90(task: str | None) -> float:
        mu, var = lengths.log_moments("m", stats, task)
        return float(np.expm1(mu + 1.2816 * np.sqrt(var)))

    assert 14 < p90("translation") < 22, p90("translation")
    assert 105 < p90("chat") < 135, p90("chat")
    assert p90("translation") < 40 < p90(None), "without the task: one spread over both kinds"
    assert p90("code") == p90(None), "a task not seen yet: no correction"


def test_within_a_task_the_length_a_latency_quantile_reads_follows_the_prompt() -> None:
    """Two families of one task whose prompts differ (short word problems answered in ~20
    tokens, long ones in ~36), while another task's long prompts get the short answers, so the
    shared regression cannot tell them apart: the task's own fit of its miss on the prompt
    statistics gives each family its own center, and the upper spread is not widened by the
    other family's answers."""
    lengths = OutputLength(350)
    short = prompt_stats("A box holds 10 cards. How many cards are in 15 boxes?")
    long = prompt_stats(
        "Lucas earns $21 per hour and works 9 hours a week. After 5 weeks, Lucas spends "
        "$300. How much money does Lucas have left, in dollars? Show the steps briefly."
    )
    rng = np.random.default_rng(5)
    for i in range(1200):
        k = i % 4
        if k == 0:
            lengths.observe("m", short, int(rng.integers(17, 24)), task="math")
        elif k == 1:
            lengths.observe("m", long, int(rng.integers(35, 38)), task="math")
        elif k == 2:
            lengths.observe("m", short, int(rng.integers(36, 40)), task="translation")
        else:
            lengths.observe("m", long, int(rng.integers(17, 24)), task="translation")

    def quantile(stats: bytes, z: float) -> float:
        mu, var = lengths.log_moments("m", stats, "math")
        return float(np.expm1(mu + z * np.sqrt(var)))

    assert 33 < quantile(long, 0.0) < 40, "the long family's median is its own"
    assert 35 < quantile(long, 1.2816) < 45, quantile(long, 1.2816)
    assert 18 < quantile(short, 0.0) < 23, "the short family's median is its own"
    assert quantile(short, 1.2816) < 28, "not widened by the long family's answers"


def test_a_model_sent_only_long_answers_is_not_taken_for_a_verbose_one() -> None:
    """Model `a` is routed only chat (long answers), `b` chat and translations (short ones);
    both write the same lengths, which grow with the prompt in both tasks. The shared
    regression's per-model offset cannot tell which tasks a model was sent from how verbose it
    is, so it took `a` for a verbose model (its translations predicted at ~2x, its chat ~1.2x
    `b`'s); the task's own fit has a shift per model within the task."""
    lengths = OutputLength(350)
    rng = np.random.default_rng(7)
    base = "Please help me with this request about the garden "
    prompts = [prompt_stats(base + "and the roses " * k) for k in range(20)]
    for i in range(1500):
        k = int(rng.integers(0, 20))
        if i % 3 == 0:
            lengths.observe("b", prompts[k], int(10 + k + rng.integers(0, 3)), task="translation")
        else:
            chat = int(60 + 3 * k + rng.integers(0, 5))
            lengths.observe("a" if i % 3 == 1 else "b", prompts[k], chat, task="chat")

    def median(model: str, task: str, k: int) -> float:
        return float(np.expm1(lengths.log_moments(model, prompts[k], task)[0]))

    for k, translation, chat in ((0, 11, 62), (10, 21, 92), (19, 30, 119)):
        assert abs(median("a", "translation", k) - translation) < 3, median("a", "translation", k)
        assert abs(median("a", "chat", k) - chat) < 8, median("a", "chat", k)
        assert abs(median("a", "chat", k) - median("b", "chat", k)) < 4


def test_kinds_of_request_the_statistics_cannot_tell_apart_are_told_by_their_words() -> None:
    """Two kinds of one task whose prompts have the very same 16 text statistics (same
    lengths of words, same characters), one answered in ~11 tokens, the other in ~65: the task's
    line on the statistics gives them one center and one spread that covers both, so the short
    kind's p90 read ~65 tokens. The prompt's hashed words (`prompt_stats_and_shape`, the same
    pass) tell the kinds apart (`latency.length_near_prompts`, here 20): each gets its own
    median and a spread of its own. Off (0, the default), the statistics alone, as before."""
    lengths, off = OutputLength(350, near=20), OutputLength(350)
    short = [f"Name three {w} please." for w in ("fruits", "plants", "cities")]
    long = [f"Write three {w} please." for w in ("poems", "songs", "jokes")]
    rows = {t: prompt_stats_and_shape(t) for t in short + long}
    assert len({stats for stats, _ in rows.values()}) == 1, "one set of statistics for all six"
    rng = np.random.default_rng(11)
    for i in range(600):
        text = (short if i % 2 else long)[int(rng.integers(0, 3))]
        n = int(rng.integers(10, 13)) if i % 2 else int(rng.integers(60, 71))
        for model in (lengths, off):
            model.observe("m", rows[text][0], n, task="chat", shape=rows[text][1])

    def quantile(text: str, z: float, words: bool = True) -> float:
        stats, shape = rows[text]
        mu, var = (lengths if words else off).log_moments("m", stats, "chat", shape)
        return float(np.expm1(mu + z * np.sqrt(var)))

    for text in short:
        assert 9 < quantile(text, 0.0) < 14, (text, quantile(text, 0.0))
        assert quantile(text, 1.2816) < 22, (text, quantile(text, 1.2816))
        assert quantile(text, 1.2816, words=False) > 40, "the statistics alone: one kind"
    for text in long:
        assert 55 < quantile(text, 0.0) < 75, (text, quantile(text, 0.0))
        assert quantile(text, 1.2816) < 95, (text, quantile(text, 1.2816))
        assert quantile(text, 0.0, words=False) < 45, "the statistics alone: one median"


def test_the_near_prompts_setting_is_off_by_default_and_checked() -> None:
    from pathlib import Path

    from arbiter import config
    from arbiter.offline.demo import demo_settings
    from arbiter.toml_text import to_toml
    from tests.conftest import ENV

    doc = to_toml(demo_settings("http://127.0.0.1:9/v1", Path("unused.db")))
    assert config.loads(doc, env=ENV).latency.length_near_prompts == 0
    on = config.loads(doc + "[latency]\nlength_near_prompts = 20\n", env=ENV)
    assert on.latency.length_near_prompts == 20
    for bad in ("-1", "201", "2.5"):
        with pytest.raises(config.ConfigError, match="length_near_prompts"):
            config.loads(doc + f"[latency]\nlength_near_prompts = {bad}\n", env=ENV)
