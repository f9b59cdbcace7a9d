"""Always-valid comparison of a candidate with stable on a per-request quality metric.

A canary or A/B test is looked at every analysis interval; a fixed-sample test checked that often
promotes or rolls back far more often than its nominal alpha. Here the interval for the difference
candidate − stable is a confidence sequence: it covers the true difference at every look at once
with probability about 1 − alpha, so the operator may check it as often as it likes.

The boundary is the two-sided normal mixture (Robbins 1970; Howard et al. 2021; the mixture SPRT
of Johari et al. 2017 is the same martingale), applied to the difference of the two arms' means in
information time I = 1 / Var(difference):

    |estimate − difference| <= sqrt((I + rho) * log((I + rho) / (rho * alpha²))) / I

with the variances estimated from the data (the asymptotic confidence sequence of Waudby-Smith et
al., "Time-uniform central limit theory", 2024). Assumption, stated once: each arm's per-request
losses are independent with finite variance (accuracy and error rate are Bernoulli; log loss, MAE
and squared error are bounded in practice: clip probabilities, errors are finite); the guarantee
is asymptotic in the labelled count, which is why nothing is decided below `min_samples` per arm.
`rmse` is compared through the mean squared error per request (RMSE itself is not a mean).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from statistics import NormalDist

Verdict = Literal["better", "non-inferior", "worse", "inconclusive", "insufficient"]

#: name -> (higher is better, per-request value is 0/1). The monitor sends per-request values:
#: correct (accuracy), wrong (error_rate), -log p(true class) (log_loss), |error| (mae), error² (rmse).
METRICS: dict[str, tuple[bool, bool]] = {
    "accuracy": (True, True),
    "error_rate": (False, True),
    "log_loss": (False, False),
    "mae": (False, False),
    "rmse": (False, False),
}

#: Variance floor for continuous losses, so that identical values do not give infinite information.
VARIANCE_FLOOR = 1e-12


@dataclass(frozen=True)
class ArmSample:
    """Aggregated labelled requests of one arm: count, sum and sum of squares of the per-request value.

    Sums are enough for the test, so the monitor can send counters instead of records.
    """

    n: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        if not isinstance(self.n, (int, np.integer)) or self.n < 0:
            raise ValueError(f"n: must be a non-negative integer, got {self.n!r}")
        if not (math.isfinite(self.total) and math.isfinite(self.total_sq)):
            raise ValueError("total/total_sq: must be finite")
        if self.total_sq < 0 or self.total_sq * self.n < self.total**2 * (1 - 1e-9) - 1e-9:
            raise ValueError("total_sq: inconsistent with total and n (sum of squares too small)")

    @classmethod
    def of_values(cls, values: Iterable[float]) -> ArmSample:
        """From per-request values (1/0 for accuracy, the loss otherwise)."""
        x = np.asarray(list(values), dtype=float)
        return cls(n=int(x.size), total=float(x.sum()), total_sq=float((x * x).sum()))

    @classmethod
    def of_counts(cls, n: int, successes: int) -> ArmSample:
        """From a Bernoulli count: `successes` ones among `n` (correct answers, or errors)."""
        if not 0 <= successes <= n:
            raise ValueError(f"successes: must be within [0, n={n}], got {successes}")
        return cls(n=n, total=float(successes), total_sq=float(successes))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")


@dataclass(frozen=True)
class Comparison:
    """Candidate vs stable. `estimate`, `lo`, `hi` are candidate − stable in the metric's own units."""

    metric: str
    verdict: Verdict
    reason: str
    estimate: float
    lo: float
    hi: float
    stable_mean: float
    candidate_mean: float
    stable_n: int
    candidate_n: int
    alpha: float
    min_effect: float
    higher_is_better: bool


def _check_level(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0 < value < 1):
        raise ValueError(f"{name}: must be within (0, 1), got {value!r}")


def _check_effect(min_effect: float) -> None:
    if not (isinstance(min_effect, (int, float)) and math.isfinite(min_effect) and min_effect > 0):
        raise ValueError(f"min_effect: must be a positive number, got {min_effect!r}")


def direction(metric: str, higher_is_better: bool | None = None) -> tuple[bool, bool]:
    """(higher is better, Bernoulli) for a metric; an unknown metric needs `higher_is_better`."""
    if metric in METRICS:
        known, bernoulli = METRICS[metric]
        return (known if higher_is_better is None else higher_is_better), bernoulli
    if higher_is_better is None:
        raise ValueError(f"metric: unknown {metric!r} (known: {', '.join(METRICS)}); pass higher_is_better")
    return higher_is_better, False


_NORMAL = NormalDist()  # the standard normal, from the standard library: scipy costs the operator ~80 MB


def lambert_w_lower(x: float) -> float:
    """W₋₁(x) for −1/e < x < 0, the lower real branch of Lambert W (w·eʷ = x, w ≤ −1), by Halley's method."""
    if not -1 / math.e < x < 0:
        raise ValueError(f"x: the lower branch is real only within (-1/e, 0), got {x!r}")
    if x < -0.25:  # near the branch point: w ≈ −1 + p − p²/3 with p = −sqrt(2(1 + e·x))
        p = -math.sqrt(2 * (1 + math.e * x))
        w = -1 + p - p * p / 3
    else:  # towards 0: w ≈ L1 − L2 + L2/L1 with L1 = log(−x), L2 = log(−L1)
        l1 = math.log(-x)
        l2 = math.log(-l1)
        w = l1 - l2 + l2 / l1
    for _ in range(100):
        ew = math.exp(w)
        f = w * ew - x
        step = f / (ew * (w + 1) - (w + 2) * f / (2 * w + 2))
        w -= step
        if abs(step) <= 1e-15 * abs(w):
            break
    return w


def tuned_rho(min_effect: float, alpha: float, power: float) -> float:
    """Mixture parameter making the boundary tightest where a fixed test would detect `min_effect`.

    That information is I* = ((z_{1-alpha/2} + z_power) / min_effect)²; the two-sided boundary is
    minimal at I* when I*/rho = −W₋₁(−alpha²/e) − 1 (Lambert W, lower branch). Fixed before any data,
    as the mixture must be.
    """
    _check_effect(min_effect)
    _check_level("alpha", alpha)
    _check_level("power", power)
    target = ((_NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)) / min_effect) ** 2
    ratio = -lambert_w_lower(-(alpha**2) / math.e) - 1.0
    return target / ratio


def radius(information, alpha: float, rho: float):
    """Half-width of the confidence sequence at information I (numpy-friendly)."""
    info = np.asarray(information, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((info + rho) * np.log((info + rho) / (rho * alpha**2))) / info


def arm_variance(n, total, total_sq, bernoulli: bool):
    """Per-request variance of an arm (numpy-friendly).

    Bernoulli: p(1 − p) with p smoothed as (ones + 1) / (n + 2), so an arm with no errors yet is not
    taken as certain. Otherwise the unbiased sample variance, floored.
    """
    n, total, total_sq = (np.asarray(a, dtype=float) for a in (n, total, total_sq))
    with np.errstate(divide="ignore", invalid="ignore"):
        if bernoulli:
            p = (total + 1) / (n + 2)
            return p * (1 - p)
        var = (total_sq - total * total / n) / (n - 1)
    return np.maximum(var, VARIANCE_FLOOR)


def intervals(n_s, total_s, sq_s, n_c, total_c, sq_c, *, bernoulli: bool, alpha: float, rho: float):
    """(estimate, lo, hi) of candidate − stable from the arms' sums; vectorised over runs and looks."""
    n_s, n_c = np.asarray(n_s, dtype=float), np.asarray(n_c, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = arm_variance(n_s, total_s, sq_s, bernoulli) / n_s + arm_variance(n_c, total_c, sq_c, bernoulli) / n_c
        estimate = np.asarray(total_c, dtype=float) / n_c - np.asarray(total_s, dtype=float) / n_s
        half = radius(1.0 / var, alpha, rho)
    return estimate, estimate - half, estimate + half


def verdicts(lo, hi, *, higher_is_better: bool, min_effect: float):
    """Verdict codes of intervals, oriented so that larger is better (numpy-friendly).

    Order matters: worse (upper bound of the gain < 0) rolls back at once; better (lower bound > 0);
    non-inferior (lower bound > −min_effect); otherwise inconclusive.
    """
    gain_lo, gain_hi = (np.asarray(lo), np.asarray(hi)) if higher_is_better else (-np.asarray(hi), -np.asarray(lo))
    return np.select(
        [gain_hi < 0, gain_lo > 0, gain_lo > -min_effect],
        np.array(["worse", "better", "non-inferior"], dtype=object),
        default="inconclusive",
    )


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def compare(
    stable: ArmSample,
    candidate: ArmSample,
    *,
    metric: str,
    higher_is_better: bool | None = None,
    min_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    min_samples: int = 100,
) -> Comparison:
    """Judge the candidate against stable, valid however often it is called on growing data.

    Canary use: "worse" rolls back, "non-inferior" or "better" advances, "inconclusive" and
    "insufficient" wait. The sequence is two-sided at alpha, so an equal candidate is ever called
    worse, or one worse by `min_effect` ever called non-inferior, in about alpha/2 of releases at most.
    """
    higher, bernoulli = direction(metric, higher_is_better)
    _check_level("alpha", alpha)
    rho = tuned_rho(min_effect, alpha, power)
    if not isinstance(min_samples, int) or min_samples < 2:
        raise ValueError(f"min_samples: must be an integer >= 2, got {min_samples!r}")
    for name, arm in (("stable", stable), ("candidate", candidate)):
        if not isinstance(arm, ArmSample):
            raise ValueError(f"{name}: must be an ArmSample, got {type(arm).__name__}")
        if bernoulli and not (arm.total == arm.total_sq and float(arm.total).is_integer() and 0 <= arm.total <= arm.n):
            raise ValueError(f"{name}: {metric} needs 0/1 values (total == total_sq <= n)")
    base = dict(
        metric=metric, stable_mean=stable.mean, candidate_mean=candidate.mean, stable_n=stable.n,
        candidate_n=candidate.n, alpha=alpha, min_effect=min_effect, higher_is_better=higher,
    )
    if stable.n < min_samples or candidate.n < min_samples:
        missing = ", ".join(
            f"{name} has {arm.n} ({min_samples - arm.n} missing)"
            for name, arm in (("stable", stable), ("candidate", candidate)) if arm.n < min_samples
        )
        nan = float("nan")
        return Comparison(verdict="insufficient", reason=f"{metric}: need {min_samples} labelled requests per arm; {missing}",
                          estimate=nan, lo=nan, hi=nan, **base)
    est, lo, hi = (float(v) for v in intervals(
        stable.n, stable.total, stable.total_sq, candidate.n, candidate.total, candidate.total_sq,
        bernoulli=bernoulli, alpha=alpha, rho=rho))
    verdict = str(verdicts(lo, hi, higher_is_better=higher, min_effect=min_effect))
    sign = 1 if higher else -1
    why = {
        "worse": "the candidate is worse with confidence",
        "better": "the candidate is better with confidence",
        "non-inferior": f"the candidate is at most {_fmt(min_effect)} worse",
        "inconclusive": f"cannot yet exclude 0 nor a loss of {_fmt(min_effect)}",
    }[verdict]
    reason = (
        f"{metric} candidate {_fmt(candidate.mean)} (n={candidate.n}) vs stable {_fmt(stable.mean)} (n={stable.n}): "
        f"difference {_fmt(est)}, {1 - alpha:.0%} always-valid interval [{_fmt(lo)}, {_fmt(hi)}] "
        f"({'higher' if sign > 0 else 'lower'} is better, minEffect {_fmt(min_effect)}): {why}"
    )
    return Comparison(verdict=verdict, reason=reason, estimate=est, lo=lo, hi=hi, **base)  # type: ignore[arg-type]


def information_needed(min_effect: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Information 1/Var(difference) at which a true loss of `min_effect` is called worse with `power`.

    At information I the estimate is about N(−min_effect, 1/I); it is called worse when
    estimate + radius(I) < 0, so we need min_effect >= radius(I) + z_power / sqrt(I).
    """
    rho = tuned_rho(min_effect, alpha, power)
    z = _NORMAL.inv_cdf(power)
    gap = lambda info: min_effect - float(radius(info, alpha, rho)) - z / math.sqrt(info)  # noqa: E731
    low, high = 1.0, 2.0
    while gap(high) <= 0:
        low, high = high, high * 2
    for _ in range(100):
        mid = math.sqrt(low * high)
        low, high = (mid, high) if gap(mid) <= 0 else (low, mid)
        if high / low < 1 + 1e-9:
            break
    return high


def samples_needed(
    min_effect: float, *, variance: float, alpha: float = 0.05, power: float = 0.8, share: float = 0.5
) -> tuple[int, int]:
    """Approximate labelled requests (stable, candidate) to detect `min_effect` at alpha and power.

    `variance` is the per-request variance (p(1 − p) for accuracy near p; use the larger of the two
    arms'); `share` is the candidate's part of the traffic. With n labelled in all,
    Var(difference) = variance / (n share (1 − share)). Divide by the label rate to tell the user
    how long a step may take.
    """
    if not (isinstance(variance, (int, float)) and variance > 0 and math.isfinite(variance)):
        raise ValueError(f"variance: must be a positive number, got {variance!r}")
    _check_level("share", share)
    total = information_needed(min_effect, alpha=alpha, power=power) * variance / (share * (1 - share))
    return math.ceil(total * (1 - share)), math.ceil(total * share)
