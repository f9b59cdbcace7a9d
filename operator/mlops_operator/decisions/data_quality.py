"""Data quality of served inputs against the project's dataset schema: what the monitor counts per feature.

Each value falls in at most one bucket, checked in this order: missing (None or NaN; counted only
where the column is not nullable), wrong type, out of range (numeric columns with min/max), unknown
category (columns with `categories`). Types follow what the V2 protocol carries: float accepts any
number; int accepts integers and integral floats (1.0); bool accepts true/false; string and
category accept strings. A bool is not a number here (True sent for a float is a client bug).
A column absent from the batch counts every row as missing (when not nullable).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..api.mlproject import ColumnSchema


@dataclass(frozen=True)
class QualityCounts:
    rows: int = 0
    missing: int = 0
    wrong_type: int = 0
    out_of_range: int = 0
    unknown_category: int = 0

    @property
    def bad(self) -> int:
        return self.missing + self.wrong_type + self.out_of_range + self.unknown_category

    def __add__(self, other: "QualityCounts") -> "QualityCounts":
        return QualityCounts(*(a + b for a, b in zip(self.astuple(), other.astuple())))

    def astuple(self) -> tuple[int, ...]:
        return (self.rows, self.missing, self.wrong_type, self.out_of_range, self.unknown_category)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _type_ok(kind: str, value) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("string", "category"):
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return kind == "float" or float(value).is_integer()


def check_column(column: ColumnSchema, values: Sequence) -> QualityCounts:
    """Quality counts of one column's values."""
    missing = wrong = out = unknown = 0
    allowed = set(column.categories) if column.categories is not None else None
    for value in values:
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        if _is_missing(value):
            missing += not column.nullable
        elif not _type_ok(column.type, value):
            wrong += 1
        elif column.type in ("float", "int") and ((column.min is not None and value < column.min)
                                                  or (column.max is not None and value > column.max)):
            out += 1
        elif allowed is not None and str(value) not in allowed:
            unknown += 1
    return QualityCounts(len(values), missing, wrong, out, unknown)


def check_batch(columns: Sequence[ColumnSchema | Mapping], batch: Mapping[str, Sequence]) -> dict[str, QualityCounts]:
    """Per-feature quality counts of a batch given column-wise ({name: values}); all columns the same length."""
    if not isinstance(batch, Mapping):
        raise ValueError("batch: expected a mapping of input name to values")
    schema = [c if isinstance(c, ColumnSchema) else ColumnSchema.model_validate(c) for c in columns]
    if not schema:
        raise ValueError("columns: the schema has no columns")
    lengths = {name: len(values) for name, values in batch.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"batch: inputs have different lengths: {lengths}")
    rows = next(iter(lengths.values()), 0)
    result = {}
    for column in schema:
        if column.name in batch:
            result[column.name] = check_column(column, batch[column.name])
        else:
            result[column.name] = QualityCounts(rows, 0 if column.nullable else rows)
    return result


def unknown_inputs(columns: Sequence[ColumnSchema | Mapping], batch: Mapping[str, Sequence]) -> list[str]:
    """Inputs of the batch that the schema does not know (sorted)."""
    known = {c.name if isinstance(c, ColumnSchema) else c["name"] for c in columns}
    return sorted(set(batch) - known)
