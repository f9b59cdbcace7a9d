"""Shadow delta: measures checked against scipy, the always-valid disagreement bound simulated."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from mlops_operator.decisions.shadow_delta import (
    ShadowBounds,
    ShadowDelta,
    delta,
    disagreement_upper,
    histograms,
    js_distance,
    ks_statistic,
    pair,
    qq_pairs,
    within_bounds,
)

samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=200)


@given(samples, samples)
def test_ks_matches_scipy(a, b):
    assert math.isclose(ks_statistic(a, b), ks_2samp(a, b, method="asymp").statistic, abs_tol=1e-12)


@given(samples, samples, st.integers(1, 40))
def test_js_matches_scipy_on_the_same_bins(a, b, bins):
    p, q = histograms(a, b, bins)
    assert math.isclose(js_distance(a, b, bins), float(jensenshannon(p, q, base=2)), abs_tol=1e-9)
    assert 0 <= js_distance(a, b, bins) <= 1


@given(samples)
def test_identical_samples_have_no_distance(a):
    assert ks_statistic(a, a) == 0 and js_distance(a, a) == 0


def test_qq_pairs_are_numpy_quantiles_at_21_levels():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=500), rng.normal(1, 2, size=300)
    qq = qq_pairs(a, b)
    assert len(qq) == 21 and qq[0][0] == 0 and qq[-1][0] == 1
    assert math.isclose(qq[10][1], float(np.median(a))) and math.isclose(qq[10][2], float(np.median(b)))
    assert qq[0][1] == a.min() and qq[-1][2] == b.max()


def test_pair_joins_by_request_id():
    assert pair({"r1": 1, "r2": 0, "r3": 1}, {"r3": 0, "r1": 1, "r9": 1}) == ([1, 1], [1, 0])


def test_classification_delta():
    stable = [0, 1, 1, 0, 1] * 200
    shadow = [0, 1, 1, 0, 0] * 200
    scores = np.linspace(0, 1, 1000)
    d = delta(stable, shadow, kind="classification", stable_scores=scores, shadow_scores=scores ** 2)
    assert d.n == 1000 and d.disagreement == 0.2
    assert 0.2 < d.disagreement_upper < 0.3
    assert math.isclose(d.ks, ks_2samp(scores, scores ** 2).statistic)
    assert d.mean_abs_diff is None and len(d.qq) == 21


def test_regression_delta():
    rng = np.random.default_rng(1)
    a = rng.normal(size=2000)
    d = delta(a, a + 0.5, kind="regression")
    assert math.isclose(d.mean_abs_diff, 0.5) and d.disagreement is None
    assert math.isclose(d.ks, ks_2samp(a, a + 0.5).statistic) and d.qq[10][2] - d.qq[10][1] == pytest.approx(0.5)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_the_upper_bound_is_above_the_rate_and_tightens(dn):
    d, n = dn
    upper = disagreement_upper(d, n)
    assert d / n <= upper <= 1
    if d < n:
        assert disagreement_upper(10 * d, 10 * n) < upper
    assert disagreement_upper(d, n, alpha=0.01) >= upper


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2])
def test_the_upper_bound_holds_at_every_look_in_all_but_alpha_of_runs(rate):
    """10,000 runs, 50 looks of 100 paired answers: the bound drops below the true rate rarely."""
    rng = np.random.default_rng(int(rate * 1000))
    runs, looks, per_look, alpha = 10_000, 50, 100, 0.05
    d = np.cumsum(rng.binomial(per_look, rate, size=(runs, looks)), axis=1)
    n = per_look * np.arange(1, looks + 1)
    # The bound is monotone in d, so a miss at a look means d reached the smallest count whose bound
    # is below the rate; find that count once per look instead of solving 500,000 times.
    limit = np.array([next((k for k in range(m + 1) if disagreement_upper(k, int(m), alpha) >= rate), m + 1)
                      for m in n])
    missed = (d < limit).any(axis=1).mean()
    assert missed <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def test_within_bounds():
    agree = ShadowDelta(n=5000, disagreement=0.01, disagreement_upper=0.014, ks=0.02, js=0.03)
    ok, reason = within_bounds(agree, ShadowBounds(max_disagreement=0.05, max_ks=0.1))
    assert ok and "0.014 within 0.05" in reason
    ok, reason = within_bounds(agree, ShadowBounds(max_disagreement=0.012, max_js=0.01))
    assert not ok and "0.014 exceeds 0.012" in reason and "Jensen-Shannon distance 0.03 exceeds 0.01" in reason
    ok, reason = within_bounds(agree, ShadowBounds(max_mean_abs_diff=1.0))
    assert not ok and "not measured" in reason
    assert within_bounds(agree, ShadowBounds())[0]


@settings(max_examples=20)
@given(st.integers(0, 100))
def test_bad_input_raises_naming_the_argument(k):
    with pytest.raises(ValueError, match="disagreements"):
        disagreement_upper(k + 1, k)
    with pytest.raises(ValueError, match="kind"):
        delta([1], [1], kind="ranking")
    with pytest.raises(ValueError, match="shadow"):
        delta([1, 2], [1], kind="classification")
    with pytest.raises(ValueError, match="shadow_scores"):
        delta([1], [1], kind="classification", stable_scores=[0.5])
    with pytest.raises(ValueError, match="bins"):
        js_distance([1.0], [2.0], bins=0)
    with pytest.raises(ValueError, match="points"):
        qq_pairs([1.0], [2.0], points=1)
    with pytest.raises(ValueError, match="alpha"):
        disagreement_upper(0, k, alpha=1)
