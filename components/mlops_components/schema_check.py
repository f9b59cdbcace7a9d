"""Check a DataFrame against the project's dataset schema and say exactly which columns are wrong."""
from __future__ import annotations

from typing import Any

import pandas as pd
from pandas.api import types as ptypes

NUMERIC_TYPES = ("float", "int")
CATEGORICAL_TYPES = ("string", "category", "bool")


def _type_problem(series: pd.Series, expected: str) -> str | None:
    present = series.dropna()
    numeric = ptypes.is_numeric_dtype(present) and not ptypes.is_bool_dtype(present)
    if expected == "float" and not numeric:
        return f"expected float values, found {series.dtype}"
    if expected == "int":
        if not numeric:
            return f"expected int values, found {series.dtype}"
        if not (present == present.round()).all():
            return "expected int values, found fractions"
    if expected == "bool" and not (
        ptypes.is_bool_dtype(present) or set(present.unique()) <= {0, 1, True, False}
    ):
        return f"expected bool values, found {series.dtype}"
    return None


def column_problems(series: pd.Series, column: dict[str, Any]) -> list[str]:
    """What is wrong with one column, in words; empty when it conforms."""
    problems: list[str] = []
    missing = int(series.isna().sum())
    if missing and not column.get("nullable", False):
        problems.append(f"{missing} missing values but the column is not nullable")
    kind = column["type"]
    wrong_type = _type_problem(series, kind)
    if wrong_type:
        return problems + [wrong_type]
    present = series.dropna()
    if kind in NUMERIC_TYPES and len(present):
        low, high = column.get("min"), column.get("max")
        if low is not None and (below := int((present < low).sum())):
            problems.append(f"{below} values below min {low} (smallest {present.min()})")
        if high is not None and (above := int((present > high).sum())):
            problems.append(f"{above} values above max {high} (largest {present.max()})")
    allowed = column.get("categories")
    if allowed is not None and kind in CATEGORICAL_TYPES:
        unknown = sorted({str(v) for v in present.unique()} - {str(a) for a in allowed})
        if unknown:
            problems.append(f"unexpected categories {unknown[:5]} (allowed {allowed})")
    return problems


def check(frame: pd.DataFrame, columns: list[dict[str, Any]] | None, target: str) -> dict[str, list[str]]:
    """Problems per column name; empty when the frame is fit for training."""
    report: dict[str, list[str]] = {}
    if target not in frame.columns:
        report[target] = ["target column is missing"]
    for column in columns or []:
        name = column["name"]
        if name not in frame.columns:
            report[name] = ["column is missing"]
            continue
        problems = column_problems(frame[name], column)
        if problems:
            report[name] = problems
    if target in frame.columns and target not in report:
        declared = {c["name"]: c for c in columns or []}
        if not declared.get(target, {}).get("nullable", False) and frame[target].isna().any():
            report[target] = [f"{int(frame[target].isna().sum())} missing target values"]
    return report


def describe(report: dict[str, list[str]]) -> str:
    """One line naming every offending column, for the TrainingRun status."""
    parts = [f"{name}: {'; '.join(problems)}" for name, problems in sorted(report.items())]
    return f"schema validation failed for columns {', '.join(sorted(report))} - " + " | ".join(parts)
