"""Score a fitted model on held-out rows, with seeded bootstrap intervals.

Predictions are computed once; bootstrap resamples only re-index them, so a 95% interval costs
milliseconds. Paired resamples (the same indices for two models) give the distribution of their
difference on the same rows, which the champion gate uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Metrics that need class probabilities (or a decision function) rather than labels.
SCORE_METRICS = ("roc_auc", "log_loss")


@dataclass(frozen=True)
class Outputs:
    """What a model said about the held-out rows."""

    labels: np.ndarray
    scores: np.ndarray | None  # probabilities (n, classes) or decision values
    classes: list[Any] | None


def predict(model, features, metric: str) -> Outputs:
    labels = np.asarray(model.predict(features))
    classes = list(getattr(model, "classes_", [])) or None
    scores = None
    if classes is not None and metric in SCORE_METRICS:
        if hasattr(model, "predict_proba"):
            scores = np.asarray(model.predict_proba(features))
        elif metric == "roc_auc" and hasattr(model, "decision_function"):
            scores = np.asarray(model.decision_function(features))
        else:
            raise ValueError(f"metric {metric}: the estimator gives neither probabilities nor decision values")
    return Outputs(labels=labels, scores=scores, classes=classes)


def _binary(classes: list[Any] | None) -> bool:
    return classes is not None and len(classes) == 2


def score(metric: str, truth: np.ndarray, out: Outputs, rows: np.ndarray | None = None) -> float:
    """The metric on all rows, or on `rows` (indices, repeats allowed)."""
    from sklearn import metrics as m

    y = truth if rows is None else truth[rows]
    labels = out.labels if rows is None else out.labels[rows]
    scores = None if out.scores is None else (out.scores if rows is None else out.scores[rows])
    if metric == "accuracy":
        return float(m.accuracy_score(y, labels))
    if metric in ("f1", "precision", "recall"):
        fn = {"f1": m.f1_score, "precision": m.precision_score, "recall": m.recall_score}[metric]
        if _binary(out.classes):
            return float(fn(y, labels, average="binary", pos_label=out.classes[1], zero_division=0))
        return float(fn(y, labels, average="macro", zero_division=0))
    if metric == "roc_auc":
        if _binary(out.classes):
            positive = scores[:, 1] if scores.ndim == 2 else scores
            return float(m.roc_auc_score(y == out.classes[1], positive))
        return float(m.roc_auc_score(y, scores, multi_class="ovr", labels=out.classes))
    if metric == "log_loss":
        return float(m.log_loss(y, scores, labels=out.classes))
    if metric == "rmse":
        return float(np.sqrt(m.mean_squared_error(y, labels)))
    if metric == "mae":
        return float(m.mean_absolute_error(y, labels))
    if metric == "r2":
        return float(m.r2_score(y, labels))
    raise ValueError(f"metric: unknown metric {metric!r}")


def resamples(n_rows: int, samples: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_rows, n_rows) for _ in range(samples)]


def _valid(metric: str, truth: np.ndarray, out: Outputs, rows: np.ndarray) -> float | None:
    try:
        value = score(metric, truth, out, rows)
    except ValueError:  # e.g. a resample with a single class has no ROC AUC
        return None
    return value if np.isfinite(value) else None


def bootstrap_interval(metric: str, truth, out: Outputs, samples: int, seed: int) -> tuple[float, float] | None:
    """95% percentile interval of the metric over seeded resamples of the held-out rows."""
    truth = np.asarray(truth)
    values = [v for rows in resamples(len(truth), samples, seed) if (v := _valid(metric, truth, out, rows)) is not None]
    if not values:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def paired_differences(metric: str, truth, challenger: Outputs, champion: Outputs, samples: int, seed: int) -> list[float]:
    """challenger - champion on the same resampled rows, one value per valid resample."""
    truth = np.asarray(truth)
    diffs = []
    for rows in resamples(len(truth), samples, seed):
        a, b = _valid(metric, truth, challenger, rows), _valid(metric, truth, champion, rows)
        if a is not None and b is not None:
            diffs.append(a - b)
    return diffs
