"""Drift statistics of live bin counts against reference bin shares, vectorised over features.

Every function takes `expected`, the reference shares (features, bins) with rows summing to 1, and
`observed`, the live counts (features, bins); padding bins (share 0, count 0) change nothing.
A window with no rows gives NaN. The definitions, each checked against a reference implementation
in tests/decisions/test_drift.py:

- PSI: sum (q - p) ln(q / p) over bins, shares clipped below at PSI_EPSILON so empty bins stay finite.
- Jensen-Shannon distance: sqrt of the JS divergence, base-2 logarithms, so it lies in [0, 1]
  (scipy.spatial.distance.jensenshannon(p, q, base=2)).
- KS: the largest gap of the two cumulative distributions at the bin edges, which is exactly
  scipy's ks_2samp on values replaced by their bin; the p-value is Smirnov's asymptotic one
  (ks_2samp method="asymp"), conservative on binned data. `ks_exact` does the same on raw windows.
- chi-square: the 2 x bins contingency test of the reference counts (shares x reference rows)
  against the live counts, without Yates' correction (chi2_contingency(..., correction=False)).
- Wasserstein-1 between the bin centers weighted by the two distributions, divided by the
  reference's standard deviation (not the IQR, which is 0 for features with a few common values).
  Live values beyond the training range count at the outer bins' centers, so it understates
  shifts past the range (PSI and KS still see them).
- total variation: half the L1 distance of the shares; for unordered categories it plays the part
  of KS and Wasserstein (it is the Wasserstein distance under the 0/1 metric).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

PSI_EPSILON = 1e-4


def _matrices(expected, observed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.atleast_2d(np.asarray(expected, dtype=float))
    counts = np.atleast_2d(np.asarray(observed, dtype=float))
    if p.shape != counts.shape:
        raise ValueError(f"observed: shape {counts.shape} differs from expected {p.shape}")
    if np.any(counts < 0) or np.any(p < 0):
        raise ValueError("observed: counts and shares must not be negative")
    rows = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = counts / rows[:, None]
    return p, q, rows


def psi(expected, observed, epsilon: float = PSI_EPSILON) -> np.ndarray:
    p, q, _ = _matrices(expected, observed)
    p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return np.sum((q - p) * np.log(q / p), axis=1)


def js_distance(expected, observed) -> np.ndarray:
    p, q, _ = _matrices(expected, observed)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(np.where(a > 0, a * np.log2(a / m), 0.0), axis=1)

    return np.sqrt(np.maximum((kl(p) + kl(q)) / 2, 0.0))


def total_variation(expected, observed) -> np.ndarray:
    p, q, _ = _matrices(expected, observed)
    return np.abs(p - q).sum(axis=1) / 2


def ks_binned(expected, observed, reference_rows) -> tuple[np.ndarray, np.ndarray]:
    """KS statistic and asymptotic p-value per feature; `reference_rows` per feature (or one number)."""
    p, q, rows = _matrices(expected, observed)
    d = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1)).max(axis=1)
    return d, _ks_pvalue(d, np.broadcast_to(np.asarray(reference_rows, dtype=float), rows.shape), rows)


def _ks_pvalue(d: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        en = np.round(n * m / (n + m))
        return np.where(en > 0, np.clip(stats.kstwo.sf(d, np.maximum(en, 1)), 0, 1), np.nan)


def ks_exact(reference: Sequence[np.ndarray], window: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """KS statistic and asymptotic p-value per feature on raw values (NaN dropped), as ks_2samp computes them."""
    if len(reference) != len(window):
        raise ValueError(f"window: {len(window)} features, reference has {len(reference)}")
    d, n, m = (np.zeros(len(window)) for _ in range(3))
    for i, (a, b) in enumerate(zip(reference, window)):
        a = np.sort(np.asarray(a, dtype=float)[~np.isnan(np.asarray(a, dtype=float))])
        b = np.sort(np.asarray(b, dtype=float)[~np.isnan(np.asarray(b, dtype=float))])
        n[i], m[i] = len(a), len(b)
        if len(a) == 0 or len(b) == 0:
            d[i] = np.nan
            continue
        both = np.concatenate([a, b])
        d[i] = np.abs(np.searchsorted(a, both, side="right") / len(a) - np.searchsorted(b, both, side="right") / len(b)).max()
    return d, _ks_pvalue(d, n, m)


def chi_square(expected, observed, reference_rows) -> tuple[np.ndarray, np.ndarray]:
    """Two-sample chi-square statistic and p-value per feature (bins empty in both samples are left out)."""
    p, _, rows = _matrices(expected, observed)
    ref = p * np.broadcast_to(np.asarray(reference_rows, dtype=float), rows.shape)[:, None]
    live = np.atleast_2d(np.asarray(observed, dtype=float))
    column = ref + live
    total = ref.sum(axis=1) + rows
    with np.errstate(invalid="ignore", divide="ignore"):
        e_ref = column * (ref.sum(axis=1) / total)[:, None]
        e_live = column * (rows / total)[:, None]
        cells = np.where(e_ref > 0, (ref - e_ref) ** 2 / e_ref, 0.0) + np.where(e_live > 0, (live - e_live) ** 2 / e_live, 0.0)
    statistic = np.where(rows > 0, cells.sum(axis=1), np.nan)
    dof = (column > 0).sum(axis=1) - 1
    return statistic, np.where(dof > 0, stats.chi2.sf(statistic, np.maximum(dof, 1)), np.where(rows > 0, 1.0, np.nan))


def wasserstein(expected, observed, centers, scale) -> np.ndarray:
    """Wasserstein-1 between bin centers weighted by the two distributions, in units of `scale` (per feature)."""
    p, q, _ = _matrices(expected, observed)
    centers = np.atleast_2d(np.asarray(centers, dtype=float))
    gaps = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1))[:, :-1] * np.diff(centers, axis=1)
    return gaps.sum(axis=1) / np.asarray(scale, dtype=float)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values: rejecting adjusted < alpha keeps the family-wise error at alpha."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)):
        raise ValueError("pvalues: expected a 1-d array of values in [0, 1]")
    order = np.argsort(p, kind="stable")
    steps = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted
