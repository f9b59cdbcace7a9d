"""Dataset snapshots of live data: recorded inputs joined with their labels, ready to train on.

The file has one column per model input and the target column (named as the MLProject's
`dataset.target`), nothing else: record metadata would otherwise become features. Only labelled
rows by default; `includeUnlabelled` keeps the rest with an empty target (for inspection, not
training). The digest is the one the training components' ingest computes
(`mlops_components.datasets.digest`: sha256 of the canonical CSV of the table as read back), so
a TrainingRun's lineage names the same digest the export returned. Snapshots are never
overwritten: the file name carries the time and the digest.

The destination is a directory path or, on a cluster, an s3:// prefix (mlops_components.locations, the
same storage layer and settings as the pipelines'), so a TrainingRun's pods can read the snapshot.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_components import datasets, locations
from mlops_components.locations import S3Config

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


@dataclass(frozen=True)
class MixWith:
    """Training data to add to the live rows (an MLProject's dataset at a version), so a retrain does not
    forget what the live window did not show."""

    uri: str
    format: str = "csv"

    @classmethod
    def parse(cls, value: Any) -> "MixWith | None":
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("uri"), str) or not value["uri"]:
            raise ExportError("mixWith.uri", "required, the dataset URI to mix in")
        fmt = value.get("format", "csv")
        if fmt not in ("csv", "parquet"):
            raise ExportError("mixWith.format", f"must be csv or parquet, got {fmt!r}")
        return cls(value["uri"], fmt)


def mixed(live: pd.DataFrame, mix: MixWith, target: str) -> pd.DataFrame:
    """The live rows followed by the training data's rows, in the live table's columns."""
    try:
        training = datasets.load(mix.uri, mix.format, target)
    except (locations.StorageError, OSError, ValueError) as exc:
        raise ExportError("mixWith.uri", f"cannot read {mix.uri}: {exc}") from None
    missing = [c for c in live.columns if c not in training.columns]
    if missing:
        raise ExportError("mixWith.uri", f"{mix.uri} lacks the columns {', '.join(map(str, missing))}")
    return pd.concat([live, training[list(live.columns)]], ignore_index=True)


def write(table: pd.DataFrame, directory: Path | str, fmt: str, storage: S3Config | None = None) -> tuple[str, str]:
    """Write the snapshot under `directory` (a path, file:// or s3:// prefix); returns (URI, digest as ingest computes it)."""
    if fmt not in ("csv", "parquet"):
        raise ExportError("format", f"must be csv or parquet, got {fmt!r}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    buffer = io.BytesIO()
    if fmt == "csv":
        table.to_csv(buffer, index=False, lineterminator="\n")
    else:
        table.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    digest = datasets.digest(datasets.parse(data, fmt))
    name = f"{stamp}-{digest.split(':')[1][:12]}.{fmt}"
    root = str(directory)
    if locations.scheme(root) in ("", "file"):
        path = locations.local_path(root) / name
        locations.write_bytes(str(path), data)  # atomic: a reader never sees half a snapshot
        return path.resolve().as_uri(), digest
    uri = locations.join(root, name)
    locations.write_bytes(uri, data, storage)
    return uri, digest
