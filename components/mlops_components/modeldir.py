"""The model directory: what a serving runtime (MLServer / Seldon SKLEARN_SERVER) and the operator read.

    model.joblib         the fitted sklearn Pipeline (transforms + estimator); takes a DataFrame
    model-settings.json  MLServer settings: SKLearnModel, ./model.joblib, one input per feature
    signature.json       feature names + types, target, task, class labels
    reference.json       training-data reference for drift: per feature deciles, quantile bins with their
                         shares and category shares; the model's predictions on held-out rows likewise
    metrics.json         the selected model's metric with interval, all candidates, the gate's verdict
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODEL_FILE = "model.joblib"
FILES = ("model.joblib", "model-settings.json", "signature.json", "reference.json", "metrics.json")
#: Open Inference Protocol datatype of each schema column type.
DATATYPES = {"float": "FP64", "int": "INT64", "bool": "BOOL", "string": "BYTES", "category": "BYTES"}
DECILES = [i / 10 for i in range(11)]
#: Quantile bins per numeric column for drift (right-closed, outer bins open: the operator's convention).
BINS = 20


def plain(value: Any) -> Any:
    """numpy scalars to JSON-safe Python values."""
    return value.item() if isinstance(value, np.generic) else value


def model_settings(name: str, version: str, features: list[dict[str, str]]) -> dict[str, Any]:
    inputs = []
    for feature in features:
        entry: dict[str, Any] = {"name": feature["name"], "datatype": DATATYPES[feature["type"]], "shape": [-1]}
        if entry["datatype"] == "BYTES":
            entry["parameters"] = {"content_type": "str"}
        inputs.append(entry)
    return {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": f"./{MODEL_FILE}", "version": version, "content_type": "pd"},
        "inputs": inputs,
    }


def signature(features: list[dict[str, str]], target: str, task: str, classes: list[Any] | None) -> dict[str, Any]:
    return {
        "features": [{**f, "datatype": DATATYPES[f["type"]]} for f in features],
        "target": target,
        "task": task,
        "classes": [plain(c) for c in classes] if classes is not None else None,
    }


def bins(values: np.ndarray) -> dict[str, list[float]]:
    """Inner cut points at the 1/BINS .. (BINS-1)/BINS quantiles (repeats merged) and each bin's share.

    Bin k holds values in (edges[k-1], edges[k]]; the first and last are open to -inf and +inf.
    """
    edges = np.unique(np.quantile(values, [i / BINS for i in range(1, BINS)]))
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return {"edges": [float(e) for e in edges], "shares": [float(c) for c in counts / counts.sum()]}


def column_reference(series: pd.Series, column_type: str) -> dict[str, Any]:
    """Reference distribution of one column: deciles, bins, mean and std, or category shares."""
    entry: dict[str, Any] = {"type": column_type, "count": int(series.notna().sum()),
                             "missingRate": float(series.isna().mean())}
    present = series.dropna()
    if column_type in ("float", "int") and len(present):
        values = present.astype(float).to_numpy()
        entry.update(kind="numeric", quantiles=[float(q) for q in np.quantile(values, DECILES)],
                     mean=float(values.mean()), std=float(values.std(ddof=0)), bins=bins(values))
    else:
        shares = present.astype(str).value_counts(normalize=True).sort_index()
        entry.update(kind="categorical", frequencies={str(k): float(v) for k, v in shares.items()})
    return entry


def predictions_reference(model, frame: pd.DataFrame, task: str) -> dict[str, Any]:
    """What the model says about held-out rows: its classes (classification) and its scores.

    The score is the positive-class probability for two classes, the top probability for more, and
    the predicted value for regression; the operator compares served outputs with it.
    """
    columns: dict[str, tuple[pd.Series, str]] = {}
    if task == "classification":
        columns["class"] = (pd.Series(model.predict(frame)).astype(str), "category")
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(frame))
            columns["score"] = (pd.Series(proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)), "float")
    else:
        columns["value"] = (pd.Series(np.asarray(model.predict(frame), dtype=float)), "float")
    return {"rows": int(len(frame)), "source": "held-out",
            "features": {name: column_reference(series, kind) for name, (series, kind) in columns.items()}}


def reference(frame: pd.DataFrame, features: list[dict[str, str]], predictions: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """Per-feature reference distribution of the training rows, with the held-out predictions when given."""
    result = {f["name"]: column_reference(frame[f["name"]], f["type"]) for f in features}
    document = {"rows": int(len(frame)), "quantileLevels": DECILES, "bins": BINS, "features": result}
    if predictions is not None:
        document["predictions"] = predictions
    return document


def file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def write(directory: Path, model, *, name: str, version: str, features: list[dict[str, str]], target: str,
          task: str, train_frame: pd.DataFrame, metrics: dict[str, Any],
          heldout_frame: pd.DataFrame | None = None, schema: list[dict[str, Any]] | None = None) -> str:
    """Write the whole directory; returns the digest of model.joblib.

    `schema` (the project's dataset schema columns) goes into signature.json without the target, so
    the monitor checks served inputs against the ranges and categories the model was trained with.
    `heldout_frame` (rows the model was not fitted on) gives the reference of its predictions.
    """
    import joblib

    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, directory / MODEL_FILE)
    classes = list(getattr(model, "classes_", [])) if task == "classification" else None
    documents = {
        "model-settings.json": model_settings(name, version, features),
        "signature.json": {**signature(features, target, task, classes),
                           **({"schema": [c for c in schema if c.get("name") != target]} if schema else {})},
        "reference.json": reference(train_frame, features, None if heldout_frame is None else predictions_reference(
            model, heldout_frame[[f["name"] for f in features]], task)),
        "metrics.json": metrics,
    }
    for file_name, document in documents.items():
        (directory / file_name).write_text(json.dumps(document, indent=2, sort_keys=True, default=plain) + "\n")
    return file_digest(directory / MODEL_FILE)
