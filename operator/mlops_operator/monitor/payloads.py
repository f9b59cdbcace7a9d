"""Reading V2 (Open Inference Protocol) payloads: feature rows of a request, predictions of a
response, and how a prediction compares with its label.

A request's inputs are columns (`{"name", "data"}` each, as the `traffic` command and MLServer's
pandas codec send them), so one request may carry several rows; a label is one value per row (a
scalar for a one-row request). Classification compares values (1, 1.0 and "1" are the same class);
regression adds up errors. Which one applies comes from the model's signature.json, else from the
prediction output's V2 datatype (FP16/32/64 is a score, anything else a class), else from the values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SCALARS = (str, int, float, bool)


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

    def scaled(self, sign: int) -> "Outcome":
        return Outcome(sign * self.rows, sign * self.correct, sign * self.incorrect, sign * self.error_sum,
                       sign * self.abs_error_sum, sign * self.squared_error_sum, self.regression)


def outcome(preds: list[Any] | None, label: Any, task: str | None) -> Outcome | None:
    """None when the record cannot be judged (no predictions, or rows that do not line up)."""
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
        return result
    correct = sum(_class(p) == _class(y) for p, y in zip(preds, labels))
    return Outcome(rows=len(preds), correct=correct, incorrect=len(preds) - correct)
