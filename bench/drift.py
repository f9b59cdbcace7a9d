"""Drift computation on 10k, 100k and 1M rows x 20 features, against scipy's per-feature ks_2samp.

Both sides judge the same live rows (one feature shifted by 0.5 standard deviations) against a
reference of as many training rows. The operator's path counts the live rows into the reference's
quantile bins and computes every statistic and the verdict (`drift.decide`); building those bins
from the training rows happens once per model version, at training time, and is shown apart.
scipy's `ks_2samp` needs both raw samples and runs once per feature. Evidently is not installed
here, so its DataDriftPreset is not measured. Time is the best of three runs (two at 1M rows);
peak memory is what tracemalloc sees allocated during the call, beyond the input data.
"""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pandas as pd
from scipy import stats

from mlops_components import modeldir
from mlops_operator.decisions.drift import decide
from mlops_operator.decisions.drift_reference import count_bins, parse_reference

FEATURES = 20
SIZES = (10_000, 100_000, 1_000_000)


def measure(fn, repeat: int) -> tuple[float, float, object]:
    """(best seconds, peak MB, result)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return best, peak, result


def data(rows: int, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(FEATURES, rows))
    live = rng.normal(size=(FEATURES, rows))
    live[7] += 0.5
    return ({f"x{i}": train[i] for i in range(FEATURES)}, {f"x{i}": live[i] for i in range(FEATURES)})


def title(args) -> str:
    return f"Drift computation, {FEATURES} numeric features (reference and live window of the same size)"


def rows(args) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [("rows", "method", "time", "peak memory", "vs ks_2samp", "drifted features")]
    for n in SIZES:
        train, live = data(n)
        repeat = 2 if n >= 1_000_000 else 3

        def build():
            doc = {"features": {k: modeldir.column_reference(pd.Series(v), "float") for k, v in train.items()}}
            return parse_reference(doc)

        build_s, build_mb, reference = measure(build, repeat)
        check_s, check_mb, report = measure(lambda: decide(reference, count_bins(reference, live)), repeat)
        ks_s, ks_mb, pvalues = measure(
            lambda: [stats.ks_2samp(train[k], live[k]).pvalue for k in train], repeat)
        ks_drifted = sum(p < 0.05 / FEATURES for p in pvalues)  # Bonferroni, the fairest reading
        label = f"{n:,}"
        out += [
            (label, "drift.decide on bin counts (count + all statistics + verdict)", f"{check_s:.3f} s",
             f"{check_mb:.1f} MB", f"{ks_s / check_s:.0f}x faster", ", ".join(report.drifted) or "none"),
            (label, "  + reference bins from the training rows (once, at training)", f"{build_s:.3f} s",
             f"{build_mb:.1f} MB", "", ""),
            (label, "scipy.stats.ks_2samp per feature (raw samples)", f"{ks_s:.3f} s", f"{ks_mb:.1f} MB", "1x",
             f"{ks_drifted} (p < 0.05/20)"),
            (label, "Evidently DataDriftPreset", "not installed", "", "", ""),
        ]
    return out
