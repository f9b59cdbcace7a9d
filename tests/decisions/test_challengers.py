"""A/B/n with challengers: table cases, and the family-wise error simulated with a look every interval."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_operator.decisions.challengers import decide
from mlops_operator.decisions.sequential import ArmSample, intervals, samples_needed, tuned_rho
from tests.decisions.traffic import labelled

ALPHA, POWER, EFFECT, MIN_SAMPLES, P = 0.05, 0.8, 0.02, 200, 0.90
OPTIONS = dict(metric="accuracy", min_effect=EFFECT, alpha=ALPHA, power=POWER, min_samples=MIN_SAMPLES)


def arm(n: int, rate: float) -> ArmSample:
    return ArmSample.of_counts(n, round(n * rate))


def test_a_clearly_better_challenger_wins_over_stable_and_the_others():
    t = decide(arm(20000, 0.90), {"b": arm(20000, 0.93), "c": arm(20000, 0.90)}, **OPTIONS)
    assert (t.outcome, t.winner) == ("winner", "b")
    assert math.isclose(t.alpha_per_pair, ALPHA / 3)
    assert "b is better" in t.reason


def test_two_challengers_better_than_stable_but_not_told_apart_continue():
    t = decide(arm(20000, 0.90), {"b": arm(20000, 0.93), "c": arm(20000, 0.929)}, **OPTIONS)
    assert t.outcome == "continue" and t.winner is None
    assert [c.comparison.verdict for c in t.challengers] == ["better", "better"]


def test_a_worse_challenger_is_stopped_and_then_the_other_can_win_alone():
    t = decide(arm(20000, 0.90), {"b": arm(20000, 0.87), "c": arm(20000, 0.93)}, **OPTIONS)
    assert {c.name: c.stopped for c in t.challengers} == {"b": True, "c": False}
    assert t.winner == "c"  # better than stable, and b is below stable


def test_stopping_is_final_even_if_later_data_look_better():
    t = decide(arm(20000, 0.90), {"b": arm(20000, 0.90), "c": arm(20000, 0.90)}, stopped=["b"], **OPTIONS)
    assert [c.stopped for c in t.challengers] == [True, False]


def test_all_losers_or_max_duration_keep_stable():
    lost = decide(arm(20000, 0.90), {"b": arm(20000, 0.86), "c": arm(20000, 0.85)}, **OPTIONS)
    assert (lost.outcome, lost.winner) == ("keep-stable", None) and "every challenger" in lost.reason
    expired = decide(arm(20000, 0.90), {"b": arm(20000, 0.90)}, expired=True, **OPTIONS)
    assert expired.outcome == "keep-stable" and "maxDuration" in expired.reason
    running = decide(arm(20000, 0.90), {"b": arm(20000, 0.90)}, **OPTIONS)
    assert running.outcome == "continue"


def test_too_few_labels_never_decide():
    t = decide(arm(50, 0.5), {"b": arm(50, 1.0), "c": arm(50, 0.0)}, **OPTIONS)
    assert t.outcome == "continue"
    assert [c.comparison.verdict for c in t.challengers] == ["insufficient", "insufficient"]


@pytest.mark.parametrize("kwargs, name", [
    (dict(challengers={}), "challengers"),
    (dict(stopped=["zz"]), "stopped"),
    (dict(alpha=0), "alpha"),
    (dict(min_effect=-1), "min_effect"),
])
def test_bad_input_raises_naming_the_argument(kwargs, name):
    args = dict(stable=arm(300, 0.9), challengers={"b": arm(300, 0.9)}, **OPTIONS)
    with pytest.raises(ValueError, match=name):
        decide(**{**args, **kwargs})


# --- family-wise error: three arms, all equal, a look every interval, late labels ------------

RUNS, LOOKS, DELAY = 10_000, 30, 2.0


def traffic(rng, runs: int, rates: list[float]):
    per_pair = sum(samples_needed(EFFECT, variance=P * (1 - P), alpha=ALPHA / len(rates), power=POWER))
    per_arm = per_pair / 2 / (LOOKS - DELAY - 1)
    return [labelled(rng, runs=runs, looks=LOOKS, requests=per_arm, p=p, delay=DELAY) for p in rates]


def play(arms, run: int) -> tuple[str, ...]:
    """Call `decide` at every look of one run, carrying the stopped set; the events it produced."""
    stopped: list[str] = []
    events: list[str] = []
    for look in range(LOOKS):
        sample = [ArmSample.of_counts(int(a.n[run, look]), int(a.ones[run, look])) for a in arms]
        t = decide(sample[0], {"b": sample[1], "c": sample[2]}, stopped=stopped, **OPTIONS)
        events += [f"stop {c.name}" for c in t.challengers if c.stopped and c.name not in stopped]
        stopped = [c.name for c in t.challengers if c.stopped]
        if t.outcome != "continue":
            return tuple(events + [f"{t.outcome} {t.winner}"])
    return tuple(events)


def test_three_equal_arms_keep_the_family_wise_error_at_alpha():
    arms = traffic(np.random.default_rng(7), RUNS, [P, P, P])
    # Any stop or winner needs some pair's interval at alpha/3 to exclude 0 at some look with enough
    # labels; only those runs can err, and each of them is replayed through `decide` itself.
    rho = tuned_rho(EFFECT, ALPHA / 3, POWER)
    suspect = np.zeros(RUNS, dtype=bool)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        a, b = arms[i], arms[j]
        _, lo, hi = intervals(a.n, a.ones, a.ones, b.n, b.ones, b.ones, bernoulli=True, alpha=ALPHA / 3, rho=rho)
        enough = (a.n >= MIN_SAMPLES) & (b.n >= MIN_SAMPLES)
        suspect |= (enough & ((lo > 0) | (hi < 0))).any(axis=1)
    errors = sum(1 for run in np.flatnonzero(suspect) if any(not e.startswith("keep-stable") for e in play(arms, run)))
    rate = errors / RUNS
    assert rate <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)


def test_the_better_challenger_usually_wins():
    runs = 300
    arms = traffic(np.random.default_rng(8), runs, [P, P - EFFECT, P + 2 * EFFECT])
    outcomes = [play(arms, run) for run in range(runs)]
    assert np.mean(["winner c" in o for o in outcomes]) >= POWER
    assert not any("winner b" in o or "stop c" in o for o in outcomes)


def test_a_clearly_worse_challenger_is_stopped_early():
    runs = 300
    arms = traffic(np.random.default_rng(9), runs, [P, P - 2 * EFFECT, P])
    outcomes = [play(arms, run) for run in range(runs)]
    assert np.mean(["stop b" in o for o in outcomes]) >= POWER
    assert not any("winner b" in o for o in outcomes)
