"""The model directory: what a serving runtime (MLServer / Seldon SKLEARN_SERVER) and the operator read.

    model.joblib         the fitted sklearn Pipeline (transforms + estimator); takes a DataFrame
    model-settings.json  MLServer settings: SKLearnModel, ./model.joblib, one input per feature
    signature.json       feature names + types, target, task, class labels
    reference.json       training-data reference distributions (deciles / category shares) for drift
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


def reference(frame: pd.DataFrame, features: list[dict[str, str]]) -> dict[str, Any]:
    """Per-feature reference distribution of the training rows."""
    result: dict[str, Any] = {}
    for feature in features:
        series = frame[feature["name"]]
        entry: dict[str, Any] = {"type": feature["type"], "count": int(series.notna().sum()),
                                 "missingRate": float(series.isna().mean())}
        present = series.dropna()
        if feature["type"] in ("float", "int") and len(present):
            values = present.astype(float)
            entry.update(kind="numeric", quantiles=[float(q) for q in np.quantile(values, DECILES)],
                         mean=float(values.mean()), std=float(values.std(ddof=0)))
        else:
            shares = present.astype(str).value_counts(normalize=True).sort_index()
            entry.update(kind="categorical", frequencies={str(k): float(v) for k, v in shares.items()})
        result[feature["name"]] = entry
    return {"rows": int(len(frame)), "quantileLevels": DECILES, "features": result}


def file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def write(directory: Path, model, *, name: str, version: str, features: list[dict[str, str]], target: str,
          task: str, train_frame: pd.DataFrame, metrics: dict[str, Any]) -> str:
    """Write the whole directory; returns the digest of model.joblib."""
    import joblib

    directory.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, directory / MODEL_FILE)
    classes = list(getattr(model, "classes_", [])) if task == "classification" else None
    documents = {
        "model-settings.json": model_settings(name, version, features),
        "signature.json": signature(features, target, task, classes),
        "reference.json": reference(train_frame, features),
        "metrics.json": metrics,
    }
    for file_name, document in documents.items():
        (directory / file_name).write_text(json.dumps(document, indent=2, sort_keys=True, default=plain) + "\n")
    return file_digest(directory / MODEL_FILE)
