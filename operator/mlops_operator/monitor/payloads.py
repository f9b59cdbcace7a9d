"""Reading V2 (Open Inference Protocol) payloads: feature rows of a request, predictions of a
response, and how a prediction compares with its label.

A request's inputs are columns (`{"name", "data"}` each, as the `traffic` command and MLServer's
pandas codec send them), so one request may carry several rows; a label is one value per row (a
scalar for a one-row request). Classification compares values (1, 1.0 and "1" are the same class);
regression adds up errors. Which one applies comes from the model's signature.json, else from the
prediction output's V2 datatype (FP16/32/64 is a score, anything else a class), else from the values.

Classification answers that also carry class probabilities (an output named predict_proba,
probabilities or proba, as MLServer's SKLearn runtime returns when asked for it) add up the log loss
-log p(true class) per row, with p clipped to [1e-15, 1] so a confident mistake costs at most
log(1e15) ≈ 34.5. The column of the true class is its place in the signature's classes (a label
not among them had probability 0); without a signature an integer label k in 0..width-1 is column
k (scikit-learn orders classes 0..k-1 so), and other labels count no log loss. Regression adds up
e⁴ too: the variance of the squared error that RMSE releases are tested on needs it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SCALARS = (str, int, float, bool)
#: Names of a V2 output holding class probabilities (rows of one column per class).
PROBABILITY_OUTPUTS = ("predict_proba", "probabilities", "proba")
#: Smallest probability in the log loss (scikit-learn's historical eps): one row costs at most ~34.5.
LOG_LOSS_CLIP = 1e-15


def features(request: Any) -> dict[str, list[Any]]:
    """Columns of a V2 request by input name (empty when it has none we can read)."""
    out: dict[str, list[Any]] = {}
    for i, entry in enumerate((request or {}).get("inputs") or [] if isinstance(request, dict) else []):
        if not isinstance(entry, dict):
            continue
        data = entry.get("data")
        if not isinstance(data, list):
            data = [data]
        out[str(entry.get("name") or f"input-{i}")] = _flat(data)
    return out


def predictions(response: Any) -> list[Any] | None:
    """Values of the response's prediction output ("predict" if named so, else the first)."""
    outputs = response.get("outputs") if isinstance(response, dict) else None
    if not isinstance(outputs, list) or not outputs:
        return None
    chosen = next((o for o in outputs if isinstance(o, dict) and o.get("name") == "predict"), outputs[0])
    data = chosen.get("data") if isinstance(chosen, dict) else None
    if not isinstance(data, list):
        return None
    return _flat(data)


def task_of(response: Any) -> str | None:
    """"regression" for a floating-point prediction output, "classification" for others, None if unknown."""
    outputs = response.get("outputs") if isinstance(response, dict) else None
    if not isinstance(outputs, list) or not outputs:
        return None
    chosen = next((o for o in outputs if isinstance(o, dict) and o.get("name") == "predict"), outputs[0])
    datatype = str(chosen.get("datatype") or "") if isinstance(chosen, dict) else ""
    if not datatype:
        return None
    return "regression" if datatype.upper().startswith("FP") else "classification"


def probabilities(response: Any) -> list[list[float]] | None:
    """Rows of class probabilities of the response, or None when it has none (or they are not numbers).

    Nested rows are taken as they are; flat data is cut by the output's shape [rows, classes]. One
    column (shape [rows] or [rows, 1]) is the positive class's probability of a binary classifier.
    """
    outputs = response.get("outputs") if isinstance(response, dict) else None
    chosen = next((o for o in outputs or [] if isinstance(o, dict) and o.get("name") in PROBABILITY_OUTPUTS), None)
    data = chosen.get("data") if chosen else None
    if not isinstance(data, list) or not data:
        return None
    try:
        if all(isinstance(row, list) for row in data):
            rows = [[float(v) for v in row] for row in data]
        else:
            flat = [float(v) for v in data]
            shape = chosen.get("shape") or [len(flat)]
            width = int(shape[1]) if len(shape) >= 2 else 1
            if width < 1 or len(flat) % width:
                return None
            rows = [flat[i:i + width] for i in range(0, len(flat), width)]
    except (TypeError, ValueError):
        return None
    if any(len(row) != len(rows[0]) or not all(math.isfinite(v) for v in row) for row in rows):
        return None
    return [[1.0 - row[0], row[0]] for row in rows] if len(rows[0]) == 1 else rows


def _column(label: Any, classes: tuple[str, ...] | None, width: int) -> int | None:
    """Column of the label's class: -1 for a class the model does not have, None when it cannot be told."""
    name = _class(label)
    if classes and len(classes) == width:
        return classes.index(name) if name in classes else -1
    try:
        k = int(name)
    except ValueError:
        return None
    return k if 0 <= k < width else None  # e.g. classes -1/1: cannot be told without the signature


def log_loss(row: list[float], label: Any, classes: tuple[str, ...] | None) -> float | None:
    """-log p(label) for one row of probabilities, p clipped to [LOG_LOSS_CLIP, 1]; None if not computable."""
    column = _column(label, classes, len(row))
    if column is None:
        return None
    p = row[column] if column >= 0 else 0.0
    return -math.log(min(1.0, max(LOG_LOSS_CLIP, p)))


def _flat(data: list[Any]) -> list[Any]:
    return [v for item in data for v in (item if isinstance(item, list) else [item])]


def valid_label(label: Any) -> bool:
    """A scalar, or a non-empty list of scalars (one per row of a multi-row request)."""
    if isinstance(label, SCALARS):
        return not isinstance(label, float) or label == label
    return isinstance(label, list) and bool(label) and all(isinstance(v, SCALARS) for v in label)


def as_rows(label: Any) -> list[Any]:
    return label if isinstance(label, list) else [label]


def _class(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_regression(preds: list[Any], task: str | None) -> bool:
    if task:
        return task == "regression"
    return any(isinstance(p, float) and not p.is_integer() for p in preds)


def class_name(value: Any) -> str:
    return _class(value)


@dataclass
class Outcome:
    """How the predictions of one record compare with its label (zeros when not comparable)."""

    rows: int = 0
    correct: int = 0
    incorrect: int = 0
    error_sum: float = 0.0
    abs_error_sum: float = 0.0
    squared_error_sum: float = 0.0
    regression: bool = False
    quartic_error_sum: float = 0.0  # Σe⁴: the variance of the squared error (rmse)
    log_loss_rows: int = 0  # classification rows with class probabilities
    log_loss_sum: float = 0.0
    log_loss_squared_sum: float = 0.0


def outcome(preds: list[Any] | None, label: Any, task: str | None, proba: list[list[float]] | None = None,
            classes: tuple[str, ...] | None = None) -> Outcome | None:
    """None when the record cannot be judged (no predictions, or rows that do not line up).

    `proba`: the response's class probabilities (rows), for the log loss; `classes`: the model's
    classes in column order (from its signature), when known.
    """
    if preds is None or label is None:
        return None
    labels = as_rows(label)
    if len(labels) != len(preds):
        return None
    if is_regression(preds, task):
        result = Outcome(rows=len(preds), regression=True)
        for p, y in zip(preds, labels):
            try:
                err = float(p) - float(y)
            except (TypeError, ValueError):
                result.incorrect += 1
                continue
            result.error_sum += err
            result.abs_error_sum += abs(err)
            result.squared_error_sum += err * err
            result.quartic_error_sum += err ** 4
        return result
    correct = sum(_class(p) == _class(y) for p, y in zip(preds, labels))
    result = Outcome(rows=len(preds), correct=correct, incorrect=len(preds) - correct)
    if proba is not None and len(proba) == len(labels):
        for row, y in zip(proba, labels):
            loss = log_loss(row, y, classes)
            if loss is not None:
                result.log_loss_rows += 1
                result.log_loss_sum += loss
                result.log_loss_squared_sum += loss * loss
    return result
