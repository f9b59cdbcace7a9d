"""Release decisions on the same simulated labelled traffic, four ways, side by side.

A canary serves `SHARE` of the traffic; every analysis interval the labels that have arrived (with a
geometric delay) are looked at. Each method decides promote, roll back, or nothing by the horizon:

- always-valid: `decisions.sequential` (confidence sequence; worse → roll back, non-inferior → promote);
- flagger-style: per interval, the candidate's accuracy over that interval's new labels against a
  threshold (stable's known accuracy − minEffect/2); N consecutive failures roll back, M successful
  checks promote (Flagger/Argo count breaches the same way);
- z-test peeked: the fixed-sample Wald interval with the same rules as ours, checked every interval;
- fixed horizon: the same interval evaluated once, at the first look with the planned labels per arm.

"labelled to decide" counts both arms' labels at the deciding look, over runs that decided.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from mlops_operator.decisions.sequential import intervals, samples_needed, tuned_rho, verdicts
from tests.decisions.traffic import first, labelled

RUNS, LOOKS, DELAY, SHARE = 10_000, 60, 2.0, 0.2
P, EFFECT, ALPHA, POWER, MIN_SAMPLES = 0.90, 0.02, 0.05, 0.8, 200
VARIANCE = max(P * (1 - P), (P - EFFECT) * (1 - P + EFFECT))  # per request, the larger arm's
FLAGGER_FAILURES, FLAGGER_SUCCESSES = 3, 10
SCENARIOS = [("equal", P), (f"worse by minEffect ({-EFFECT:+g})", P - EFFECT), (f"better ({EFFECT:+g})", P + EFFECT),
             (f"much worse ({-2.5 * EFFECT:+g})", P - 2.5 * EFFECT)]


def title(args) -> str:
    return (f"Canary decisions on simulated labelled traffic: {RUNS:,} runs per row, accuracy {P:g}, minEffect "
            f"{EFFECT:g}, alpha {ALPHA:g}, power {POWER:g}, candidate share {SHARE:g}, a look every interval "
            f"({LOOKS} looks), labels {DELAY:g} intervals late on average. False rollback = rolled back when "
            f"equal; false promotion = promoted when worse by minEffect.")


def outcome(back: np.ndarray, ahead: np.ndarray):
    """(rolled back, promoted, deciding look or -1) from the first looks of each signal."""
    rolled = (back >= 0) & ((ahead < 0) | (back < ahead))
    promoted = (ahead >= 0) & ((back < 0) | (ahead < back))
    return rolled, promoted, np.where(rolled, back, np.where(promoted, ahead, -1))


def wald(s, c, level: float):
    with np.errstate(divide="ignore", invalid="ignore"):
        ps, pc = s.ones / s.n, c.ones / c.n
        se = np.sqrt(ps * (1 - ps) / s.n + pc * (1 - pc) / c.n)
    est = pc - ps
    z = norm.ppf(1 - level / 2)
    return est - z * se, est + z * se


def methods(s, c) -> dict:
    enough = (s.n >= MIN_SAMPLES) & (c.n >= MIN_SAMPLES)
    _, lo, hi = intervals(s.n, s.ones, s.ones, c.n, c.ones, c.ones, bernoulli=True, alpha=ALPHA,
                          rho=tuned_rho(EFFECT, ALPHA, POWER))
    codes = verdicts(lo, hi, higher_is_better=True, min_effect=EFFECT)
    result = {"always-valid (ours)": outcome(first(enough & (codes == "worse")),
                                             first(enough & np.isin(codes, ["better", "non-inferior"])))}

    new_n = np.diff(c.n, axis=1, prepend=0)
    new_ones = np.diff(c.ones, axis=1, prepend=0)
    checked = new_n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = checked & (new_ones / new_n >= P - EFFECT / 2)
    failed = checked & ~ok
    run = np.zeros(failed.shape[0], dtype=int)
    streak = np.zeros_like(failed, dtype=int)
    for look in range(LOOKS):  # consecutive failures; an interval without labels does not break a streak
        run = np.where(failed[:, look], run + 1, np.where(ok[:, look], 0, run))
        streak[:, look] = run
    result[f"flagger-style ({FLAGGER_FAILURES} fails / {FLAGGER_SUCCESSES} passes)"] = outcome(
        first(streak >= FLAGGER_FAILURES), first(np.cumsum(ok, axis=1) >= FLAGGER_SUCCESSES))

    lo, hi = wald(s, c, ALPHA)
    result["z-test peeked every interval"] = outcome(first(enough & (hi < 0)), first(enough & (lo > -EFFECT)))

    # Fixed-sample size for the same split: Var(difference) = variance / (N share (1 - share)) <= (minEffect / z)².
    z = norm.ppf(1 - ALPHA / 2) + norm.ppf(POWER)
    total = z**2 * VARIANCE / (EFFECT**2 * SHARE * (1 - SHARE))
    at = first((s.n >= total * (1 - SHARE)) & (c.n >= total * SHARE))
    planned = np.zeros_like(enough)
    rows = np.flatnonzero(at >= 0)
    planned[rows, at[rows]] = True
    result["fixed horizon, once at plan"] = outcome(first(planned & (hi < 0)), first(planned & (lo > -EFFECT)))
    return result


def rows(args) -> list[tuple[str, ...]]:
    rate = sum(samples_needed(EFFECT, variance=VARIANCE, alpha=ALPHA, power=POWER, share=SHARE)) / (LOOKS / 2 - DELAY - 1)
    table = [("method", "candidate", "promoted", "rolled back", "undecided", "labelled to decide: mean", "median")]
    rng = np.random.default_rng(2026)
    per_method: dict[str, list[tuple]] = {}
    for name, p in SCENARIOS:
        s = labelled(rng, runs=RUNS, looks=LOOKS, requests=rate * (1 - SHARE), p=P, delay=DELAY)
        c = labelled(rng, runs=RUNS, looks=LOOKS, requests=rate * SHARE, p=p, delay=DELAY)
        total = s.n + c.n
        for method, (rolled, promoted, look) in methods(s, c).items():
            decided = look >= 0
            used = total[np.flatnonzero(decided), look[decided]]
            per_method.setdefault(method, []).append((
                name, f"{promoted.mean():.2%}", f"{rolled.mean():.2%}", f"{1 - decided.mean():.2%}",
                f"{used.mean():,.0f}" if used.size else "-", f"{np.median(used):,.0f}" if used.size else "-"))
    for method, lines in per_method.items():
        table += [(method, *line) for line in lines]
    return table
