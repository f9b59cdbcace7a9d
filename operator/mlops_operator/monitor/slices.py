"""Error slices: live quality per feature bin, from labelled records, so one sees where a model fails.

For each predictor's model version, every labelled row falls in one bin per feature (the bins of
the version's training reference); per bin: rows and errors (classification: wrong classes;
regression: absolute error). Slices with at least `min_rows` rows are ranked by error rate
(regression: mean absolute error) against the predictor's overall rate.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from ..decisions import drift_reference
from . import payloads


def bin_label(feature: drift_reference.FeatureReference, index: int) -> str:
    if feature.kind == "categorical":
        return feature.categories[index] if index < len(feature.categories) else "other"
    edges = feature.edges
    low = "-inf" if index == 0 else f"{edges[index - 1]:.4g}"
    high = "+inf" if index >= len(edges) else f"{edges[index]:.4g}"
    return f"({low}, {high}]"


def _bin_of(feature: drift_reference.FeatureReference, value: Any) -> int | None:
    counts = drift_reference.count_feature(feature, [value])
    hit = np.flatnonzero(counts)
    return int(hit[0]) if len(hit) else None


def error_slices(rows: list[dict[str, Any]], files_of: Callable[[str], Any], task_of: Callable[[str], str | None], *,
                 min_rows: int = 20, top: int = 10) -> dict[str, Any]:
    """Per predictor (its most recent model URI): overall error and the worst feature-bin slices."""
    latest: dict[str, str] = {}
    for row in rows:
        if row.get("model_uri"):
            latest[row["predictor"]] = row["model_uri"]
    tallies: dict[str, dict[tuple[str, int], list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    overall: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    regression: dict[str, bool] = {}
    for row in rows:
        predictor, uri = row["predictor"], row.get("model_uri")
        if not row.get("labelled") or row.get("request") is None or row.get("response") is None:
            continue
        if uri != latest.get(predictor):
            continue
        files = files_of(uri)
        if files is None or files.inputs is None:
            continue
        columns = payloads.features(json.loads(row["request"]))
        preds = payloads.predictions(json.loads(row["response"])) or []
        labels = payloads.as_rows(row["label"])
        if len(labels) != len(preds):
            continue
        is_regression = payloads.is_regression(preds, task_of(uri))
        regression[predictor] = is_regression
        for i, (p, y) in enumerate(zip(preds, labels)):
            try:
                error = abs(float(p) - float(y)) if is_regression else float(payloads.class_name(p) != payloads.class_name(y))
            except (TypeError, ValueError):
                continue
            overall[predictor][0] += 1
            overall[predictor][1] += error
            for feature in files.inputs.features:
                values = columns.get(feature.name)
                if values is None or i >= len(values):
                    continue
                b = _bin_of(feature, values[i])
                if b is not None:
                    tally = tallies[predictor][(feature.name, b)]
                    tally[0] += 1
                    tally[1] += error
    out: dict[str, Any] = {}
    for predictor, (n, total) in sorted(overall.items()):
        reference = files_of(latest[predictor]).inputs
        by_name = {f.name: f for f in reference.features}
        slices = [{"feature": name, "bin": bin_label(by_name[name], b), "rows": int(r),
                   "error": round(e / r, 6)} for (name, b), (r, e) in tallies[predictor].items() if r >= min_rows]
        slices.sort(key=lambda s: (-s["error"], -s["rows"], s["feature"]))
        out[predictor] = {"modelUri": latest[predictor], "rows": int(n), "error": round(total / n, 6) if n else None,
                          "measure": "mean absolute error" if regression.get(predictor) else "error rate",
                          "slices": slices[:top]}
    return out
