"""PGR / APGR / CPT / AIQ on hand-made curves with known answers."""

from __future__ import annotations

import math

import pytest

from arbiter.offline.routing_metrics import aiq, apgr, cpt, interpolate, nondecreasing_hull, pgr

RANDOM = [(c / 20, c / 20) for c in range(21)]  # the random router: PGR = c


def test_pgr_basic_and_degenerate() -> None:
    assert pgr(0.8, 0.6, 1.0) == pytest.approx(0.5)
    assert pgr(1.1, 0.6, 1.0) == pytest.approx(1.25)  # the oracle can exceed 1
    assert math.isnan(pgr(0.5, 0.7, 0.7))


def test_random_router_reference_values() -> None:
    assert apgr(RANDOM) == pytest.approx(0.5)
    assert cpt(RANDOM, 0.5) == pytest.approx(0.5)
    assert cpt(RANDOM, 0.8) == pytest.approx(0.8)


def test_random_router_two_points_only() -> None:
    line = [(0.0, 0.0), (1.0, 1.0)]
    assert apgr(line) == pytest.approx(0.5)
    assert cpt(line, 0.5) == pytest.approx(0.5)


def test_perfect_step_curve() -> None:
    # reaches PGR 1 at c = 0.2, flat after
    curve = [(0.0, 0.0), (0.2, 1.0), (1.0, 1.0)]
    # grid values: 0, .5, 1, 1, ... -> 0.1 * (0 + .5 + 9 * 1) minus half the ends (0 + 1)
    assert apgr(curve) == pytest.approx(0.1 * (0.5 + 9.0 - 0.5))
    assert cpt(curve, 0.5) == pytest.approx(0.1)
    assert cpt(curve, 0.8) == pytest.approx(0.16)


def test_cpt_least_c_on_non_monotone_curve_and_unreached() -> None:
    curve = [(0.0, 0.0), (0.3, 0.9), (0.5, 0.6), (1.0, 1.0)]
    assert cpt(curve, 0.8) == pytest.approx(0.3 * 0.8 / 0.9)
    assert cpt([(0.0, 0.0), (1.0, 0.7)], 0.8) is None
    assert cpt([(0.1, 0.9)], 0.5) == pytest.approx(0.1)


def test_duplicate_c_are_averaged_and_order_free() -> None:
    curve = [(1.0, 1.0), (0.5, 0.4), (0.0, 0.0), (0.5, 0.6)]
    assert interpolate(curve, [0.5, 0.25]) == pytest.approx([0.5, 0.25])
    assert apgr(curve) == pytest.approx(0.5)


def test_apgr_rejects_empty_curve() -> None:
    with pytest.raises(ValueError):
        apgr([])


def test_hull_drops_dominated_and_concave_points() -> None:
    pts = [(0.0, 0.1), (1.0, 0.2), (2.0, 0.9), (3.0, 0.5), (1.5, 0.1)]
    hull = nondecreasing_hull(pts)
    assert hull == [(0.0, 0.1), (2.0, 0.9)]  # (1, .2) lies under the chord; (3, .5) is worse


def test_aiq_single_models_and_flat_extension() -> None:
    # two models: cheap (0, 0.2), expensive (10, 0.6) -> hull is the chord; area = mean 0.4
    assert aiq([(0.0, 0.2), (10.0, 0.6)], 0.0, 10.0) == pytest.approx(0.4)
    # a router point at (5, 0.6) dominates: 0.2 -> 0.6 over [0, 5], flat 0.6 after
    assert aiq([(0.0, 0.2), (5.0, 0.6), (10.0, 0.6)], 0.0, 10.0) == pytest.approx(
        (0.5 * (0.2 + 0.6) * 5 + 0.6 * 5) / 10
    )
    # a lone point reached only from cost 5 on counts as quality 0 below it
    assert aiq([(5.0, 1.0)], 0.0, 10.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        aiq([(0.0, 1.0)], 1.0, 1.0)
