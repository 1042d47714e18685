"""Change-point detectors (changepoint.py): quiet on stable streams, quick on real shifts, and
dating the change. Streams are seeded; delay and false-alarm rates at scale are bench/drift.py's."""

from __future__ import annotations

import math
import random

import pytest

from arbiter.alerts import AlertRules
from arbiter.changepoint import (
    GradeDetector,
    WindowDropTest,
    grade_detector,
    grade_threshold,
    latency_detector,
    price_detector,
    threshold_for,
    window_threshold,
)
from arbiter.records import AlertRecord

H = threshold_for(1.0)


def _bernoulli(rng: random.Random, p: float) -> float:
    return 1.0 if rng.random() < p else 0.0


def test_threshold_grows_with_the_accepted_run_length() -> None:
    assert threshold_for(1.0) == pytest.approx(math.log(200_000))
    assert threshold_for(0.1) > threshold_for(1.0) > threshold_for(10.0)


def test_stable_pass_fail_grades_raise_nothing() -> None:
    rng = random.Random(1)
    for p in (0.3, 0.8, 0.97):
        det = grade_detector(1.0)
        assert [c for _ in range(20_000) if (c := det.observe(_bernoulli(rng, p)))] == []


def test_a_drop_is_found_dated_and_measured() -> None:
    rng = random.Random(2)
    det = grade_detector(1.0)
    for t in range(600):
        assert det.observe(_bernoulli(rng, 0.8), t=float(t)) is None
    change = None
    for t in range(600, 1200):
        change = det.observe(_bernoulli(rng, 0.4), t=float(t))
        if change:
            break
    assert change is not None and change.signal == "quality" and change.direction == "down"
    assert change.delay < 100  # a 0.4 drop: well inside bench/drift.py's p90 for 0.2
    assert abs(change.at - 600) < 40 and abs(change.started - 600) < 40  # dated near the start
    assert change.before == pytest.approx(0.8, abs=0.06)
    assert change.after == pytest.approx(0.4, abs=0.15)
    # the reference is now the post-change level: staying there raises nothing more
    assert [c for _ in range(3000) if (c := det.observe(_bernoulli(rng, 0.4)))] == []
    count, total = det.since_change
    assert count > 3000 and total / count == pytest.approx(0.4, abs=0.03)


def test_a_rise_is_found_too() -> None:
    rng = random.Random(3)
    det = grade_detector(1.0)
    for _ in range(600):
        det.observe(_bernoulli(rng, 0.5))
    changes = [c for _ in range(600) if (c := det.observe(_bernoulli(rng, 0.9)))]
    assert [c.direction for c in changes] == ["up"]


def test_richer_grades_are_found_sooner() -> None:
    def delay(draw_before, draw_after, seed: int) -> int:  # type: ignore[no-untyped-def]
        rng = random.Random(seed)
        det = GradeDetector(H)
        for _ in range(500):
            det.observe(draw_before(rng))
        for i in range(2000):
            if det.observe(draw_after(rng)):
                return i + 1
        return 2000

    seeds = range(8)
    binary = [delay(lambda r: _bernoulli(r, 0.8), lambda r: _bernoulli(r, 0.6), s) for s in seeds]
    rich = [delay(lambda r: r.betavariate(8, 2), lambda r: r.betavariate(6, 4), s) for s in seeds]
    assert sorted(rich)[4] * 3 < sorted(binary)[4]


def _entry_rate(size: int, fail: float, k: int) -> float:
    """P(the failure count over the last `size` grades is < k one step and >= k the next), by
    enumerating every sequence of size + 1 pass/fail grades."""
    total = 0.0
    for bits in range(2 ** (size + 1)):
        xs = [(bits >> j) & 1 for j in range(size + 1)]
        if sum(xs[:size]) < k <= sum(xs[1:]):
            ones = sum(xs)
            total += fail**ones * (1 - fail) ** (size + 1 - ones)
    return total


def test_window_threshold_spends_exactly_the_budget_it_is_given() -> None:
    for size, fail in ((10, 0.2), (12, 0.35)):
        for budget in (20.0, 300.0):  # per 100k: large enough to enumerate small windows
            k = window_threshold(size, fail, budget)
            assert _entry_rate(size, fail, k) * 100_000 <= budget
            assert _entry_rate(size, fail, k - 1) * 100_000 > budget  # the smallest such k


def test_the_window_test_counts_failures_over_its_last_grades_only() -> None:
    test = WindowDropTest(10, 1.0)
    k = window_threshold(10, 0.2, 1.0)
    for _ in range(10 - k):
        assert not test.observe(1.0, 0.2, 0.0)
    fired = [test.observe(0.0, 0.2, float(t)) for t in range(k)]
    assert fired == [False] * (k - 1) + [True]
    side = test.as_side(100)
    assert (side.zero, side.n, side.total) == (91, 10, 10 - k)
    test.reset()
    assert not any(test.observe(0.0, 0.2, 0.0) for _ in range(9))  # a fresh window fills first


def test_the_grade_threshold_is_below_walds_by_its_measured_slack() -> None:
    assert grade_threshold(0.5) == pytest.approx(threshold_for(0.5) - 1.6)


def test_the_window_cuts_cusums_slow_tail_for_a_pass_rate_drop() -> None:
    def delays(make) -> list[int]:  # type: ignore[no-untyped-def]
        out = []
        for seed in range(60):
            rng = random.Random(seed)
            det = make()
            for _ in range(400):
                det.observe(_bernoulli(rng, 0.8))
            out.append(next((i + 1 for i in range(600) if det.observe(_bernoulli(rng, 0.6))), 601))
        return sorted(out)

    both = delays(lambda: grade_detector(1.0))
    cusum_alone = delays(lambda: GradeDetector(H))  # the Wald threshold, no window (before)
    assert both[54] <= 150 < cusum_alone[54]  # the p90 of 60 seeded streams


def test_a_window_alarm_dates_the_change_near_its_start() -> None:
    rng = random.Random(5)
    det = grade_detector(1.0)
    for t in range(500):
        assert det.observe(_bernoulli(rng, 0.8), t=float(t)) is None
    change = next(
        c for t in range(500, 1500) if (c := det.observe(_bernoulli(rng, 0.6), t=float(t)))
    )
    assert change.direction == "down" and change.delay <= 160
    assert abs(change.at - 500) <= 80 and change.after == pytest.approx(0.6, abs=0.12)


def test_stable_rich_grades_raise_nothing_with_the_window() -> None:
    rng = random.Random(6)
    det = grade_detector(1.0)
    assert [c for _ in range(20_000) if (c := det.observe(rng.betavariate(8, 2)))] == []


def test_price_needs_agreeing_calls_and_one_outlier_is_not_enough() -> None:
    det = price_detector(H)
    for _ in range(30):
        assert det.observe(1.0) is None
    for odd in (0.3, 3.0, 0.5, 5.0):  # odd single bills, each followed by normal ones
        assert det.observe(odd) is None
        for _ in range(5):
            assert det.observe(1.0) is None
    found = [det.observe(1.2) for _ in range(4)]
    assert found[:3] == [None] * 3 and found[3] is not None  # four agreeing calls
    assert found[3].direction == "up" and found[3].after == pytest.approx(1.2)


def test_a_price_rise_is_found_within_five_calls_despite_one_cached_bill() -> None:
    for odd_at in range(5):
        det = price_detector(H)
        for _ in range(30):
            assert det.observe(1.0) is None
        bills = [1.2] * 5
        bills[odd_at] = 1.2 * 0.4  # a cached prompt billed at the cache price
        found = [c for b in bills if (c := det.observe(b)) is not None]
        assert [c.direction for c in found] == ["up"], odd_at


def test_price_ignores_missing_or_nonsense_measurements() -> None:
    det = price_detector(H)
    for bad in (0.0, -1.0, math.inf, math.nan):
        assert det.observe(bad) is None
    assert det.n == 0


def test_latency_tripling_with_stalls_around() -> None:
    rng = random.Random(4)
    det = latency_detector(H)

    def draw(median: float) -> float:
        x = median * math.exp(rng.gauss(0.0, 0.35))
        return x * 10 if rng.random() < 0.01 else x

    assert [c for _ in range(5000) if (c := det.observe(draw(1.0)))] == []
    changes = [(i, c) for i in range(40) if (c := det.observe(draw(3.0)))]
    assert len(changes) == 1 and changes[0][0] < 20
    assert changes[0][1].magnitude == pytest.approx(3.0, rel=0.35)


def test_a_burst_of_stalled_calls_is_not_a_latency_change() -> None:
    """A host stall or a network blip slows several consecutive calls, then the model answers
    as before: nothing to adopt. Without the confirmation (`confirm=0`, as before) a burst of
    ten 4x calls alarmed on every stream; a burst is over before the confirmation's calls."""
    before = after = 0
    for seed in range(20):
        for k in (3, 5, 10):
            rng = random.Random(seed * 100 + k)
            now, old = latency_detector(H), latency_detector(H, confirm=0)
            for i in range(400):
                x = math.exp(rng.gauss(0.0, 0.3)) * (4.0 if 200 <= i < 200 + k else 1.0)
                after += now.observe(x) is not None
                before += old.observe(x) is not None
    # one of the twenty bursts of ten still passes: the CUSUM was already lifted by the calls
    # before it, crossed at its 7th call, and one of the 4 normal calls after it was slow too
    # (bench/drift.py: 3% of bursts of ten, none of 3 or 5)
    assert after <= 1
    assert before >= 20  # each burst of ten (and its end, read as a drop back)


def test_a_latency_change_is_confirmed_either_way_and_dated_at_its_start() -> None:
    """A sustained shift passes the confirmation: tripled or a third, found within 20 calls,
    dated where it began and named at its new level."""
    for seed in range(10):
        for factor in (3.0, 1.0 / 3.0):
            rng = random.Random(seed)
            det = latency_detector(H)
            for _ in range(300):
                assert det.observe(math.exp(rng.gauss(0.0, 0.3))) is None
            found = [
                (i, c)
                for i in range(40)
                if (c := det.observe(factor * math.exp(rng.gauss(0.0, 0.3))))
            ]
            assert len(found) == 1
            i, change = found[0]
            assert i < 20 and 285 <= change.at <= 300  # the CUSUM's own dating
            assert change.direction == ("up" if factor > 1 else "down")
            assert change.magnitude == pytest.approx(factor, rel=0.3)


def test_a_latency_alarm_always_names_a_shift_of_the_level() -> None:
    """A noisy latency stream whose level never moves but whose stalls grow a little more
    frequent once drove the capped CUSUM over h with the median unchanged: an alarm that says
    "x1.00" and adopts nothing, logged again and again on a loaded host. An alarm must name a
    shift of at least sqrt(shift) in its direction; anything less restarts the test quietly."""
    changes = []
    for seed in range(20):
        det = latency_detector(H)
        rng = random.Random(seed)
        for i in range(6_000):
            stall = rng.random() < (0.1 if i < 500 else 0.3)
            change = det.observe(math.exp(rng.gauss(0.0, 0.3)) * (3.0 if stall else 1.0))
            if change is not None:
                changes.append(change.magnitude)
    band = math.sqrt(latency_detector(H).shift)
    assert all(m >= band or m <= 1 / band for m in changes), changes


def test_an_answer_graded_twice_counts_once_per_grade_kind() -> None:
    """A wrong math answer can get an automatic grade (0.2: bad arithmetic) and then the
    client's feedback (0.0); a right one only the feedback. Fed into one stream, every such
    failure counted twice, in a burst: 34 false alarms over 40 stable streams of 5,000 answers
    (16 per 100k observations). One stream per grade kind: each answer once per stream."""
    alarms = 0
    for seed in range(40):
        got: list[AlertRecord] = []
        rules = AlertRules(got.append)
        rng = random.Random(seed)
        for _ in range(5_000):
            if rng.random() < 0.9:
                rules.observe_grade("t", "m", "math", 1.0, "feedback")
                continue
            if rng.random() < 0.7:
                rules.observe_grade("t", "m", "math", 0.2, "auto")
            rules.observe_grade("t", "m", "math", 0.0, "feedback")
        alarms += sum(1 for r in got if r.kind == "quality_change")
    assert alarms <= 2


def test_a_fast_models_jitter_is_not_a_latency_change() -> None:
    """A 1 ms upstream on a loaded host: its calls take 0.3-8 ms, drifting with the load. As
    plain ratios to the expected time that is an "x4" every few dozen calls (the tail bench
    logged several alarms a second); floored at MATERIAL_S it is no change at all, while a
    model whose 100 ms calls take 300 ms is still found within 20 calls."""
    from arbiter.latency_slo import material_ratio

    rng = random.Random(5)
    plain, floored = latency_detector(H), latency_detector(H)
    plain_alarms = floored_alarms = 0
    for i in range(20_000):
        load = 1.0 + 3.0 * (i // 500 % 2)  # the host's load comes and goes
        t = 0.001 * load * math.exp(rng.gauss(0.0, 0.5))
        plain_alarms += plain.observe(t / 0.001) is not None
        floored_alarms += floored.observe(material_ratio(t, 0.001)) is not None
    assert plain_alarms > 10  # what the bench saw
    assert floored_alarms == 0
    slow = latency_detector(H)
    for _ in range(50):
        assert slow.observe(material_ratio(0.1 * math.exp(rng.gauss(0.0, 0.1)), 0.1)) is None
    found = [
        slow.observe(material_ratio(0.3 * math.exp(rng.gauss(0.0, 0.1)), 0.1)) for _ in range(20)
    ]
    assert any(c is not None for c in found)


def test_the_latency_detector_reads_its_spread_without_sorting_each_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every answering call steps the latency detector, which read its reference window's
    median and MAD by sorting the window and a list of its deviations (8-15 us of CPU a call
    on this host). The window is kept sorted instead: no sort on a call that crosses nothing."""
    from arbiter import changepoint

    rng = random.Random(3)
    det = latency_detector(H)
    for _ in range(100):
        det.observe(math.exp(rng.gauss(0.0, 0.05)))

    def no_sort(xs: object) -> float:
        raise AssertionError("sorted the window on a plain call")

    monkeypatch.setattr(changepoint, "_median", no_sort)
    for _ in range(500):
        assert det.observe(math.exp(rng.gauss(0.0, 0.05))) is None
    assert det.level == pytest.approx(1.0, abs=0.05)


def test_the_sorted_windows_mad_is_the_median_of_the_deviations() -> None:
    """Exactly the figure the detector computed before, ties and even lengths included."""
    from arbiter.changepoint import _median, _sorted_mad

    rng = random.Random(11)
    for _ in range(3_000):
        n = rng.randint(1, 70)
        if rng.random() < 0.4:  # ties: floored ratios are often exactly 1.0 (log 0.0)
            xs = [rng.choice([0.0, 0.0, 0.1, -0.2, 0.5]) for _ in range(n)]
        else:
            xs = [rng.gauss(0.0, 1.0) for _ in range(n)]
        mu = _median(xs)
        assert _sorted_mad(sorted(xs), mu) == _median([abs(v - mu) for v in xs])


def test_the_mad_of_an_even_window_takes_one_bisection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The latency detector's 64-value window is even: its MAD averages the 32nd and 33rd
    smallest deviations; the 33rd is next to the run of the 32 nearest values, so one search
    finds both (the figure is the same: the test above, 3,000 windows with ties)."""
    from arbiter import changepoint

    searches = []
    real = changepoint._nearest_run

    def counted(s: list[float], mu: float, k: int) -> int:
        searches.append(k)
        return real(s, mu, k)

    monkeypatch.setattr(changepoint, "_nearest_run", counted)
    rng = random.Random(3)
    for n in (2, 64, 65):
        xs = sorted(rng.gauss(0.0, 1.0) for _ in range(n))
        mu = changepoint._sorted_median(xs)
        searches.clear()
        got = changepoint._sorted_mad(xs, mu)
        assert searches == [n // 2 + n % 2]
        assert got == changepoint._median([abs(v - mu) for v in xs])


def test_a_price_back_at_its_old_level_right_after_a_change_is_reported() -> None:
    """x4 for four calls (alarmed, adopted), then x1 again at once: the return is a change too,
    within 5 calls. Before probe21 the x1 calls joined the 4-call reference, its median and
    spread sat between the levels, and no return was reported in 30 calls (the adopted x4 stayed
    for good); a price that stays at x4 still alarms once."""
    h = threshold_for(1.0)
    det, seen = price_detector(h), []
    for i, v in enumerate([1.0] * 8 + [4.0] * 4 + [1.0] * 30):
        c = det.observe(v)
        if c is not None:
            seen.append((i, c.direction, round(c.after, 3)))
    assert seen == [(11, "up", 4.0), (16, "down", 1.0)]
    det, seen = price_detector(h), []
    for i, v in enumerate([1.0] * 8 + [4.0] * 60):
        c = det.observe(v)
        if c is not None:
            seen.append((i, c.direction))
    assert seen == [(11, "up")]
