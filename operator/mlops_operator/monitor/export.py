"""Dataset snapshots of live data: recorded inputs joined with their labels, ready to train on.

The file has one column per model input and the target column (named as the MLProject's
`dataset.target`), nothing else: record metadata would otherwise become features. Only labelled
rows by default; `includeUnlabelled` keeps the rest with an empty target (for inspection, not
training). The digest is the one the training components' ingest computes
(`mlops_components.datasets.digest`: sha256 of the canonical CSV of the table as read back), so
a TrainingRun's lineage names the same digest the export returned. Snapshots are never
overwritten: the file name carries the time and the digest.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_components import datasets

from . import payloads


class ExportError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def frame(rows: list[dict[str, Any]], target: str, include_unlabelled: bool) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    for row in rows:
        if row.get("request") is None or (not row["labelled"] and not include_unlabelled):
            continue
        columns = payloads.features(json.loads(row["request"]))
        n = max((len(v) for v in columns.values()), default=0)
        labels = payloads.as_rows(row["label"]) if row["labelled"] else [None] * n
        if len(labels) != n:
            continue  # a label that does not line up with the request's rows cannot be joined
        for i in range(n):
            record = {name: values[i] if i < len(values) else None for name, values in columns.items()}
            if target in record:
                raise ExportError("target", f"{target!r} is also the name of a model input")
            record[target] = labels[i]
            records.append(record)
    return pd.DataFrame.from_records(records)


def write(table: pd.DataFrame, directory: Path, fmt: str) -> tuple[str, str]:
    """Write the snapshot; returns (file:// URI, digest as ingest computes it)."""
    if fmt not in ("csv", "parquet"):
        raise ExportError("format", f"must be csv or parquet, got {fmt!r}")
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    tmp = directory / f".{stamp}.{fmt}.tmp"
    if fmt == "csv":
        table.to_csv(tmp, index=False, lineterminator="\n")
    else:
        table.to_parquet(tmp, index=False)
    digest = datasets.digest(datasets.parse(tmp.read_bytes(), fmt))
    path = directory / f"{stamp}-{digest.split(':')[1][:12]}.{fmt}"
    tmp.replace(path)
    return path.resolve().as_uri(), digest
