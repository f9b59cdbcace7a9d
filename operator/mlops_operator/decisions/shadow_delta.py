"""Shadow delta: how differently the shadow answers the same requests as stable, before anyone sees it.

Stable's and the shadow's answers are joined by request id (`pair`), then summarised (`delta`):
the disagreement rate of predicted classes with an always-valid upper bound, the KS statistic and
Jensen-Shannon distance of the score distributions, the mean absolute difference of regression
outputs, and the quantile pairs of a Q-Q plot. `within_bounds` is the promotion gate.

The disagreement bound is the beta-binomial mixture confidence sequence (Robbins 1970; Howard et
al. 2021, conjugate mixtures): for a rate p, the Bayes factor of a uniform prior against p,
B(1 + d, 1 + n − d) / B(1, 1) / (p^d (1 − p)^(n − d)), is a nonnegative martingale under p, so by
Ville's inequality it exceeds 1/alpha at some look with probability at most alpha. The rates where it
stays below 1/alpha form the sequence; exact, not asymptotic, and tight for small rates.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Hashable, Literal

import numpy as np

Kind = Literal["classification", "regression"]


@dataclass(frozen=True)
class ShadowDelta:
    n: int
    disagreement: float | None = None
    disagreement_upper: float | None = None
    ks: float | None = None
    js: float | None = None
    mean_abs_diff: float | None = None
    qq: tuple[tuple[float, float, float], ...] = ()  # (quantile level, stable, shadow)


@dataclass(frozen=True)
class ShadowBounds:
    """Limits from the shadow spec; None means not checked."""

    max_disagreement: float | None = None
    max_ks: float | None = None
    max_js: float | None = None
    max_mean_abs_diff: float | None = None


def pair(stable: Mapping[Hashable, object], shadow: Mapping[Hashable, object]) -> tuple[list, list]:
    """Answers of the requests both saw, aligned by request id (in stable's order)."""
    ids = [i for i in stable if i in shadow]
    return [stable[i] for i in ids], [shadow[i] for i in ids]


def disagreement_upper(disagreements: int, n: int, alpha: float = 0.05) -> float:
    """Always-valid upper bound of the disagreement rate after `disagreements` in `n` paired answers."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n: must be a non-negative integer, got {n!r}")
    if not isinstance(disagreements, int) or not 0 <= disagreements <= n:
        raise ValueError(f"disagreements: must be an integer within [0, n={n}], got {disagreements!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be within (0, 1), got {alpha!r}")
    from scipy.optimize import brentq  # here, not at the top: only shadows with bounds need scipy (~80 MB)
    from scipy.special import betaln, xlog1py, xlogy

    d, threshold = disagreements, math.log(1 / alpha)

    def excess(p: float) -> float:  # log Bayes factor against p, minus log(1/alpha)
        return float(betaln(1 + d, 1 + n - d) - xlogy(d, p) - xlog1py(n - d, -p)) - threshold

    start, top = (d / n if n else 0.0), 1.0 - 1e-15
    if d == n or excess(top) <= 0:  # the factor stays below 1/alpha for every rate above the estimate
        return 1.0
    return brentq(excess, start, top, xtol=1e-12)  # excess(start) < 0: the factor is at most 1 there


def _values(name: str, values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name}: need a non-empty sequence of numbers")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: values must be finite")
    return x


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    x, y = np.sort(_values("a", a)), np.sort(_values("b", b))
    grid = np.concatenate([x, y])
    gaps = np.searchsorted(x, grid, side="right") / x.size - np.searchsorted(y, grid, side="right") / y.size
    return float(np.max(np.abs(gaps)))


def histograms(a: Sequence[float], b: Sequence[float], bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples in the same `bins` equal-width bins over their joint range."""
    if not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins: must be a positive integer, got {bins!r}")
    x, y = _values("a", a), _values("b", b)
    low, high = min(x.min(), y.min()), max(x.max(), y.max())
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    return np.histogram(x, edges)[0].astype(float), np.histogram(y, edges)[0].astype(float)


def js_distance(a: Sequence[float], b: Sequence[float], bins: int = 20) -> float:
    """Jensen-Shannon distance (base 2, within [0, 1]) of the two samples' histograms."""
    p, q = histograms(a, b, bins)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    kl = lambda u: float(np.sum(u[u > 0] * np.log2(u[u > 0] / m[u > 0])))  # noqa: E731
    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def qq_pairs(a: Sequence[float], b: Sequence[float], points: int = 21) -> tuple[tuple[float, float, float], ...]:
    """(level, quantile of a, quantile of b) at `points` evenly spaced levels from 0 to 1."""
    if not isinstance(points, int) or points < 2:
        raise ValueError(f"points: must be an integer >= 2, got {points!r}")
    x, y = _values("a", a), _values("b", b)
    levels = np.linspace(0, 1, points)
    return tuple(zip(levels.tolist(), np.quantile(x, levels).tolist(), np.quantile(y, levels).tolist()))


def delta(
    stable: Sequence,
    shadow: Sequence,
    *,
    kind: Kind,
    stable_scores: Sequence[float] | None = None,
    shadow_scores: Sequence[float] | None = None,
    alpha: float = 0.05,
    bins: int = 20,
    points: int = 21,
) -> ShadowDelta:
    """Summarise paired answers (see `pair`).

    Classification: `stable`/`shadow` are predicted classes; the distributions compared are the
    scores (e.g. probability of the positive class) when given. Regression: the outputs themselves.
    """
    if kind not in ("classification", "regression"):
        raise ValueError(f"kind: must be 'classification' or 'regression', got {kind!r}")
    if len(stable) != len(shadow):
        raise ValueError(f"shadow: {len(shadow)} answers do not pair with stable's {len(stable)}")
    if len(stable) == 0:
        raise ValueError("stable: no paired answers")
    n = len(stable)
    if kind == "classification":
        d = sum(1 for s, t in zip(stable, shadow) if s != t)
        fields: dict = dict(disagreement=d / n, disagreement_upper=disagreement_upper(d, n, alpha))
        if (stable_scores is None) != (shadow_scores is None):
            raise ValueError("shadow_scores: give both score sequences or neither")
        a, b = (stable_scores, shadow_scores) if stable_scores is not None else (None, None)
    else:
        a, b = _values("stable", stable), _values("shadow", shadow)
        fields = dict(mean_abs_diff=float(np.mean(np.abs(a - b))))
    if a is not None:
        fields.update(ks=ks_statistic(a, b), js=js_distance(a, b, bins), qq=qq_pairs(a, b, points))
    return ShadowDelta(n=n, **fields)


def within_bounds(result: ShadowDelta, bounds: ShadowBounds) -> tuple[bool, str]:
    """Promotion gate: every bounded measure must be within its limit.

    Disagreement is judged by its always-valid upper bound (the shadow must agree with confidence);
    KS, JS and mean absolute difference are descriptive and judged by their value. A bounded measure
    that could not be computed (no scores) fails: the gate never passes on no data.
    """
    checks = [
        ("disagreement upper bound", result.disagreement_upper, bounds.max_disagreement),
        ("KS statistic", result.ks, bounds.max_ks),
        ("Jensen-Shannon distance", result.js, bounds.max_js),
        ("mean absolute difference", result.mean_abs_diff, bounds.max_mean_abs_diff),
    ]
    failed, passed = [], []
    for label, value, limit in checks:
        if limit is None:
            continue
        if value is None:
            failed.append(f"{label} not measured (limit {limit:.4g})")
        elif value > limit:
            failed.append(f"{label} {value:.4g} exceeds {limit:.4g}")
        else:
            passed.append(f"{label} {value:.4g} within {limit:.4g}")
    if failed:
        return False, f"shadow beyond bounds over {result.n} paired requests: " + "; ".join(failed)
    return True, f"shadow within bounds over {result.n} paired requests: " + ("; ".join(passed) or "no bounds set")
