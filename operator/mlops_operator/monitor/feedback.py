"""Parsing ground-truth labels: JSON (one object or a list) or a CSV/Parquet upload.

Every item is `requestId` (a non-empty string) and `label` (a scalar, or a list of scalars for a
multi-row request). A bad item refuses the whole upload, with the index and field named, so a
client never has to guess which half of a batch was kept.
"""
from __future__ import annotations

import io
import json
from typing import Any

from . import payloads

MAX_ITEMS = 100_000


class FeedbackError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def from_json(document: Any) -> list[tuple[str, Any]]:
    items = document if isinstance(document, list) else [document]
    if not items:
        raise FeedbackError("body", "an empty list")
    if len(items) > MAX_ITEMS:
        raise FeedbackError("body", f"more than {MAX_ITEMS} labels in one upload")
    out = []
    for i, item in enumerate(items):
        where = f"[{i}]" if isinstance(document, list) else ""
        if not isinstance(item, dict):
            raise FeedbackError(f"body{where}", "must be an object with requestId and label")
        request_id = item.get("requestId")
        if not isinstance(request_id, str) or not request_id.strip():
            raise FeedbackError(f"body{where}.requestId", "required, a non-empty string")
        if "label" not in item:
            raise FeedbackError(f"body{where}.label", "required")
        if not payloads.valid_label(item["label"]):
            raise FeedbackError(f"body{where}.label",
                                f"must be a number, string or boolean (or a list of them), got {type(item['label']).__name__}")
        out.append((request_id.strip(), item["label"]))
    return out


def from_table(data: bytes, fmt: str) -> list[tuple[str, Any]]:
    """A CSV or Parquet file with columns requestId and label."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={"requestId": str}) if fmt == "csv" else pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pandas raises many kinds for a bad file
        raise FeedbackError("body", f"not a readable {fmt} file: {exc}") from exc
    for column in ("requestId", "label"):
        if column not in frame.columns:
            raise FeedbackError(column, f"missing column (found {', '.join(map(str, frame.columns)) or 'none'})")
    records = json.loads(frame[["requestId", "label"]].to_json(orient="records"))
    return from_json(records)
