"""The always-valid comparison: properties, then simulated canaries checked every interval."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_operator.decisions.sequential import (
    ArmSample,
    compare,
    intervals,
    lambert_w_lower,
    radius,
    samples_needed,
    tuned_rho,
    verdicts,
)
from tests.decisions.traffic import first, labelled

ALPHA, POWER, EFFECT, MIN_SAMPLES = 0.05, 0.8, 0.02, 200


def counts(max_n: int = 100_000):
    return st.integers(2, max_n).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))


def bern(nk) -> ArmSample:
    return ArmSample.of_counts(*nk)


# --- properties -----------------------------------------------------------------------------

@given(counts(), counts())
def test_the_interval_contains_the_estimate(s, c):
    r = compare(bern(s), bern(c), metric="accuracy", min_effect=EFFECT, min_samples=2)
    assert r.lo < r.estimate < r.hi
    assert math.isclose(r.estimate, c[1] / c[0] - s[1] / s[0], abs_tol=1e-12)


@given(counts(5_000), counts(5_000), st.integers(2, 50))
def test_the_interval_shrinks_as_labels_accumulate_at_the_same_rates(s, c, k):
    small = compare(bern(s), bern(c), metric="accuracy", min_effect=EFFECT, min_samples=2)
    large = compare(bern((k * s[0], k * s[1])), bern((k * c[0], k * c[1])), metric="accuracy",
                    min_effect=EFFECT, min_samples=2)
    assert large.hi - large.lo < small.hi - small.lo
    assert math.isclose(large.estimate, small.estimate, abs_tol=1e-12)


@given(st.floats(1e-3, 1e9), st.floats(1.01, 100), st.sampled_from([0.01, 0.05, 0.2]), st.floats(1e-2, 1e6))
def test_the_radius_falls_with_information(info, factor, alpha, rho):
    assert radius(info * factor, alpha, rho) < radius(info, alpha, rho)


@given(counts(), counts())
def test_swapping_the_arms_mirrors_the_interval_and_the_verdict(s, c):
    ab = compare(bern(s), bern(c), metric="accuracy", min_effect=EFFECT, min_samples=2)
    ba = compare(bern(c), bern(s), metric="accuracy", min_effect=EFFECT, min_samples=2)
    assert math.isclose(ab.estimate, -ba.estimate, abs_tol=1e-12)
    assert math.isclose(ab.lo, -ba.hi, abs_tol=1e-12) and math.isclose(ab.hi, -ba.lo, abs_tol=1e-12)
    assert (ab.verdict == "worse") == (ba.verdict == "better")


@given(counts(), counts())
def test_accuracy_and_error_rate_of_the_same_answers_agree(s, c):
    acc = compare(bern(s), bern(c), metric="accuracy", min_effect=EFFECT, min_samples=2)
    err = compare(bern((s[0], s[0] - s[1])), bern((c[0], c[0] - c[1])), metric="error_rate",
                  min_effect=EFFECT, min_samples=2)
    assert acc.verdict == err.verdict
    assert math.isclose(acc.lo, -err.hi, abs_tol=1e-12)


@given(st.lists(st.floats(0, 10), min_size=2, max_size=200), st.lists(st.floats(0, 10), min_size=2, max_size=200))
def test_continuous_losses_use_the_sample_variance(a, b):
    r = compare(ArmSample.of_values(a), ArmSample.of_values(b), metric="mae", min_effect=0.1, min_samples=2)
    assert r.lo <= r.estimate <= r.hi
    assert math.isclose(r.estimate, np.mean(b) - np.mean(a), abs_tol=1e-9)
    half = (r.hi - r.lo) / 2
    var = max(np.var(a, ddof=1), 1e-12) / len(a) + max(np.var(b, ddof=1), 1e-12) / len(b)
    assert math.isclose(half, float(radius(1 / var, ALPHA, tuned_rho(0.1, ALPHA, POWER))), rel_tol=1e-6)


@given(counts(), counts())
@settings(max_examples=50)
def test_compare_and_the_vectorised_simulation_path_agree(s, c):
    one = compare(bern(s), bern(c), metric="accuracy", min_effect=EFFECT, min_samples=2)
    _, lo, hi = intervals(s[0], s[1], s[1], c[0], c[1], c[1], bernoulli=True, alpha=ALPHA,
                          rho=tuned_rho(EFFECT, ALPHA, POWER))
    assert str(verdicts(lo, hi, higher_is_better=True, min_effect=EFFECT)) == one.verdict


def test_too_few_labels_waits_and_says_how_many_are_missing():
    r = compare(ArmSample.of_counts(500, 450), ArmSample.of_counts(120, 100), metric="accuracy",
                min_effect=EFFECT, min_samples=200)
    assert r.verdict == "insufficient"
    assert "candidate has 120 (80 missing)" in r.reason and "stable" not in r.reason.split(";")[1]


def test_reasons_carry_the_numbers():
    r = compare(ArmSample.of_counts(8000, 7200), ArmSample.of_counts(8000, 6880), metric="accuracy", min_effect=EFFECT)
    assert r.verdict == "worse"
    assert f"{r.lo:.4g}" in r.reason and f"{r.hi:.4g}" in r.reason and "n=8000" in r.reason


def test_decisive_cases():
    s = ArmSample.of_counts(20000, 18000)
    assert compare(s, ArmSample.of_counts(20000, 18000), metric="accuracy", min_effect=EFFECT).verdict == "non-inferior"
    assert compare(s, ArmSample.of_counts(20000, 18600), metric="accuracy", min_effect=EFFECT).verdict == "better"
    assert compare(s, ArmSample.of_counts(20000, 17400), metric="accuracy", min_effect=EFFECT).verdict == "worse"
    assert compare(s, ArmSample.of_counts(300, 266), metric="accuracy", min_effect=EFFECT).verdict == "inconclusive"


@pytest.mark.parametrize("kwargs, name", [
    (dict(metric="f1"), "metric"),
    (dict(min_effect=0), "min_effect"),
    (dict(min_effect=float("nan")), "min_effect"),
    (dict(alpha=1.5), "alpha"),
    (dict(power=0), "power"),
    (dict(min_samples=1), "min_samples"),
    (dict(stable="x"), "stable"),
    (dict(candidate=ArmSample(10, 3.5, 3.5)), "candidate"),
])
def test_bad_input_raises_naming_the_argument(kwargs, name):
    args = dict(stable=ArmSample.of_counts(10, 5), candidate=ArmSample.of_counts(10, 5), metric="accuracy",
                min_effect=EFFECT)
    with pytest.raises(ValueError, match=name):
        compare(**{**args, **kwargs})


@pytest.mark.parametrize("args, name", [
    ((-1, 0.0, 0.0), "n"), ((3, 2.0, 1.0), "total_sq"), ((3, float("inf"), 1.0), "total"),
])
def test_bad_arm_samples_raise(args, name):
    with pytest.raises(ValueError, match=name):
        ArmSample(*args)
    with pytest.raises(ValueError, match="successes"):
        ArmSample.of_counts(3, 4)


def test_planning_grows_with_power_and_shrinks_with_the_effect():
    base = samples_needed(EFFECT, variance=0.09)
    assert samples_needed(EFFECT, variance=0.09, power=0.9)[0] > base[0]
    assert samples_needed(2 * EFFECT, variance=0.09)[0] < base[0]
    assert sum(samples_needed(EFFECT, variance=0.09, share=0.2)) > sum(base)
    with pytest.raises(ValueError, match="variance"):
        samples_needed(EFFECT, variance=0)
    with pytest.raises(ValueError, match="share"):
        samples_needed(EFFECT, variance=0.09, share=1)


# --- simulations: a check every interval, labels arriving late ------------------------------

RUNS, LOOKS, DELAY, P = 10_000, 30, 2.0, 0.90


def margin(rate: float) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / RUNS)


def horizon(share: float) -> float:
    """Requests per interval so that, after label delay, the last look has the planned labels."""
    variance = max(P * (1 - P), (P - EFFECT) * (1 - P + EFFECT))
    planned = sum(samples_needed(EFFECT, variance=variance, alpha=ALPHA, power=POWER, share=share))
    return planned / (LOOKS - DELAY - 1)


def canary(p_candidate: float, share: float, seed: int, metric: str = "accuracy"):
    """(rolled back, promoted) per run: the first look that is worse, or non-inferior/better, decides."""
    rng = np.random.default_rng(seed)
    rate = horizon(share)
    s = labelled(rng, runs=RUNS, looks=LOOKS, requests=rate * (1 - share), p=P, delay=DELAY)
    c = labelled(rng, runs=RUNS, looks=LOOKS, requests=rate * share, p=p_candidate, delay=DELAY)
    if metric == "error_rate":  # the same answers counted as errors: lower is better
        s, c = type(s)(s.n, s.n - s.ones), type(c)(c.n, c.n - c.ones)
    higher = metric == "accuracy"
    _, lo, hi = intervals(s.n, s.ones, s.ones, c.n, c.ones, c.ones, bernoulli=True, alpha=ALPHA,
                          rho=tuned_rho(EFFECT, ALPHA, POWER))
    codes = verdicts(lo, hi, higher_is_better=higher, min_effect=EFFECT)
    enough = (s.n >= MIN_SAMPLES) & (c.n >= MIN_SAMPLES)
    back = first(enough & (codes == "worse"))
    ahead = first(enough & np.isin(codes, ["better", "non-inferior"]))
    rolled = (back >= 0) & ((ahead < 0) | (back < ahead))
    promoted = (ahead >= 0) & ((back < 0) | (ahead < back))
    return rolled, promoted


@pytest.mark.parametrize("share, metric", [(0.5, "accuracy"), (0.2, "accuracy"), (0.2, "error_rate")])
def test_an_equal_candidate_is_rolled_back_in_at_most_alpha_of_runs(share, metric):
    rolled, promoted = canary(P, share, seed=1, metric=metric)
    assert rolled.mean() <= ALPHA + margin(ALPHA)
    assert promoted.mean() >= POWER - margin(POWER)  # and it is usually promoted within the horizon


@pytest.mark.parametrize("share", [0.5, 0.2])
def test_a_candidate_worse_by_min_effect_is_rolled_back_with_power_and_rarely_promoted(share):
    rolled, promoted = canary(P - EFFECT, share, seed=2)
    assert rolled.mean() >= POWER - margin(POWER)
    assert promoted.mean() <= ALPHA + margin(ALPHA)


def test_the_simulated_traffic_is_what_was_planned():
    rng = np.random.default_rng(3)
    arm = labelled(rng, runs=2000, looks=LOOKS, requests=100, p=0.7, delay=DELAY)
    assert np.all(np.diff(arm.n, axis=1) >= 0) and np.all(arm.ones <= arm.n)
    assert abs(arm.ones[:, -1].sum() / arm.n[:, -1].sum() - 0.7) < 0.005
    assert arm.n[:, 0].mean() < 100 / (1 + DELAY) + 2  # most first-interval labels are still pending


@pytest.mark.parametrize("shift, check", [(0.0, "rolled back at most alpha"), (0.1, "rolled back with power")])
def test_skewed_continuous_losses_keep_the_error_rates(shift, check):
    """MAE with exponential (skewed, sub-exponential) per-request errors, mean 1, minEffect 0.1."""
    effect, runs, rng = 0.1, RUNS, np.random.default_rng(11)
    per_arm = samples_needed(effect, variance=(1 + shift) ** 2, alpha=ALPHA, power=POWER)[0] / (LOOKS - DELAY - 1)
    rolled = np.zeros(runs, dtype=bool)
    promoted = np.zeros(runs, dtype=bool)
    rho = tuned_rho(effect, ALPHA, POWER)
    for chunk in np.array_split(np.arange(runs), 10):
        arms = []
        for mean in (1.0, 1.0 + shift):
            n = labelled(rng, runs=chunk.size, looks=LOOKS, requests=per_arm, p=0.5, delay=DELAY).n
            losses = rng.exponential(mean, size=(chunk.size, int(n.max()) + 1))
            sums = np.concatenate([np.zeros((chunk.size, 1)), np.cumsum(losses, axis=1)], axis=1)
            squares = np.concatenate([np.zeros((chunk.size, 1)), np.cumsum(losses**2, axis=1)], axis=1)
            rows = np.arange(chunk.size)[:, None]
            arms.append((n, sums[rows, n], squares[rows, n]))
        (ns, ts, qs), (nc, tc, qc) = arms
        _, lo, hi = intervals(ns, ts, qs, nc, tc, qc, bernoulli=False, alpha=ALPHA, rho=rho)
        codes = verdicts(lo, hi, higher_is_better=False, min_effect=effect)
        enough = (ns >= MIN_SAMPLES) & (nc >= MIN_SAMPLES)
        back = first(enough & (codes == "worse"))
        ahead = first(enough & np.isin(codes, ["better", "non-inferior"]))
        rolled[chunk] = (back >= 0) & ((ahead < 0) | (back < ahead))
        promoted[chunk] = (ahead >= 0) & ((back < 0) | (ahead < back))
    if shift == 0:
        assert rolled.mean() <= ALPHA + margin(ALPHA)
    else:
        assert rolled.mean() >= POWER - margin(POWER)
        assert promoted.mean() <= ALPHA + margin(ALPHA)


@pytest.mark.parametrize("alpha", [1e-6, 0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 0.9, 0.999])
def test_lambert_w_lower_branch_matches_scipy(alpha):
    from scipy.special import lambertw

    x = -(alpha**2) / math.e
    ours = lambert_w_lower(x)
    assert ours == pytest.approx(float(np.real(lambertw(x, k=-1))), rel=1e-12)
    assert ours * math.exp(ours) == pytest.approx(x, rel=1e-10) and ours <= -1


def test_lambert_w_lower_refuses_outside_its_real_domain():
    for x in (0.0, 0.1, -1.0):
        with pytest.raises(ValueError, match="x: the lower branch"):
            lambert_w_lower(x)
