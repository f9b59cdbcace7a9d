"""Has a model's input (or output) drifted from its training reference? One verdict per window.

A feature drifts when three things hold: the window has at least `min_rows` values of it (small
samples give noisy, upward-biased PSI: Evidently #509), its effect size reaches `threshold` (a
p-value alone would flag every trivial shift on a large window: Evidently #50), and its guard
p-value survives Holm's correction across all tested features at level `alpha`, so a project
with 30 features has at most the false-alarm probability of one with a single feature.
The guard is KS for numeric features and chi-square for categorical ones.

Prediction drift is the same decision on the "predictions" section of the reference (the model's
classes and scores on held-out rows at training time): `parse_reference(doc, "predictions")`,
then `count_bins` on the served outputs and `decide`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from . import drift_stats as ds
from .drift_reference import Reference

Statistic = Literal["psi", "js", "ks", "wasserstein"]
Verdict = Literal["Drifted", "NoDrift", "Inconclusive"]
STATISTICS = ("psi", "js", "ks", "wasserstein")


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    rows: int
    effect: float  # the chosen statistic (total variation for categorical features under ks/wasserstein)
    psi: float
    js: float
    ks: float  # numeric: KS; categorical: total variation distance
    wasserstein: float  # numeric only (NaN for categorical), in reference standard deviations
    chi2: float
    p_value: float  # the guard: KS p (numeric) or chi-square p (categorical)
    adjusted_p: float  # Holm-adjusted across the tested features (NaN when not tested)
    tested: bool  # enough rows
    drifted: bool
    derived: bool  # reference bins derived from deciles (approximate)

    def summary(self) -> str:
        return f"{self.feature} (psi {self.psi:.3f}, js {self.js:.3f}, ks {self.ks:.3f}, p {self.adjusted_p:.2g})"


@dataclass(frozen=True)
class DriftReport:
    verdict: Verdict
    reason: str
    features: tuple[FeatureDrift, ...]  # drifted first, then by effect size, largest first

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def message(self, top: int = 3) -> str:
        """For a `Drifted` condition: the verdict's reason and the top drifting features with their statistics."""
        worst = [f.summary() for f in self.features if f.drifted][:top]
        return self.reason + (": " + "; ".join(worst) if worst else "")


def statistics(reference: Reference, counts) -> dict[str, np.ndarray]:
    """Every statistic per feature of a (features, bins) count matrix."""
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape != (len(reference.features), reference.bins):
        raise ValueError(f"counts: expected shape {(len(reference.features), reference.bins)}, got {counts.shape}")
    shares = reference.padded("shares")
    ref_rows = np.array([max(f.rows, 1) for f in reference.features], dtype=float)
    numeric = np.array([f.kind == "numeric" for f in reference.features])
    scale = np.array([f.scale for f in reference.features])
    ks, ks_p = ds.ks_binned(shares, counts, ref_rows)
    chi2, chi2_p = ds.chi_square(shares, counts, ref_rows)
    tvd = ds.total_variation(shares, counts)
    return {
        "rows": counts.sum(axis=1),
        "psi": ds.psi(shares, counts),
        "js": ds.js_distance(shares, counts),
        "ks": np.where(numeric, ks, tvd),
        "wasserstein": np.where(numeric, ds.wasserstein(shares, counts, reference.padded("centers"), scale), np.nan),
        "tvd": tvd,
        "chi2": chi2,
        "p": np.where(numeric, ks_p, chi2_p),
    }


def decide(reference: Reference, counts, *, statistic: Statistic = "psi", threshold: float = 0.2,
           min_rows: int = 100, alpha: float = 0.05) -> DriftReport:
    """Verdict on one window of counts (see the module docstring for the rule)."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic: expected one of {', '.join(STATISTICS)}, got {statistic!r}")
    if not threshold >= 0:
        raise ValueError(f"threshold: must be >= 0, got {threshold}")
    if min_rows < 1:
        raise ValueError(f"min_rows: must be >= 1, got {min_rows}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha}")
    s = statistics(reference, counts)
    numeric = np.array([f.kind == "numeric" for f in reference.features])
    effect = s[statistic] if statistic in ("psi", "js") else np.where(numeric, s[statistic], s["tvd"])
    tested = s["rows"] >= min_rows
    adjusted = np.full(len(tested), np.nan)
    if tested.any():
        adjusted[tested] = ds.holm(s["p"][tested])
    drifted = tested & (effect >= threshold) & (adjusted < alpha)
    features = tuple(
        FeatureDrift(f.name, f.kind, int(s["rows"][i]), float(effect[i]), float(s["psi"][i]), float(s["js"][i]),
                     float(s["ks"][i]), float(s["wasserstein"][i]), float(s["chi2"][i]), float(s["p"][i]),
                     float(adjusted[i]), bool(tested[i]), bool(drifted[i]), f.derived)
        for i, f in enumerate(reference.features))
    features = tuple(sorted(features, key=lambda f: (not f.drifted, -np.nan_to_num(f.effect, nan=-1.0), f.feature)))
    untested = len(tested) - int(tested.sum())
    if drifted.any():
        verdict: Verdict = "Drifted"
        reason = f"{int(drifted.sum())} of {int(tested.sum())} features drifted ({statistic} >= {threshold:g}, Holm p < {alpha:g})"
    elif tested.any():
        verdict = "NoDrift"
        reason = f"no drift in {int(tested.sum())} features ({statistic} < {threshold:g} or Holm p >= {alpha:g})"
    else:
        verdict = "Inconclusive"
        reason = f"{int(s['rows'].max(initial=0))} of {min_rows} rows needed for drift analysis"
    if untested and tested.any():
        reason += f"; {untested} with fewer than {min_rows} rows not tested"
    derived = [f.name for f in reference.features if f.derived]
    if derived:
        reason += f"; bins of {len(derived)} features derived from reference deciles (approximate)"
    return DriftReport(verdict, reason, features)
