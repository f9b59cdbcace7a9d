"""Batch scoring, chunk by chunk: read the input with pyarrow datasets, check each row, score, write Parquet.

Memory follows the chunk size, not the input: a chunk is read, checked, scored and written (one
Parquet row group per chunk) before the next is read, and what is kept across chunks is counts
(rows, rejections, prediction classes, drift bins), which add up across chunks and shards.

Rows are never dropped silently nor repaired by guessing: a row that breaks the model's signature or
the project's schema is written to rejected/ with its row id and the reason, per column.
A whole input that cannot be scored (no file, no rows, a feature column missing or of a type that
cannot hold its values) fails the step with an error naming the cause (InputMissing, EmptyInput,
SchemaMismatch, ModelNotFound): the operator turns that into the BatchPrediction's condition.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from . import failures, locations, modeldir

ROW_ID = "row_id"
PREDICTION = "prediction"
SCORE = "score"
REASON = "reason"
PREDICTIONS_DIR = "predictions"
REJECTED_DIR = "rejected"
SUMMARY_FILE = "summary.json"
NUMERIC = ("float", "int")
MODEL_FILES = ["model.joblib", "signature.json", "reference.json"]


class InputMissing(failures.StepFailed):
    """The input location holds no file."""


class EmptyInput(failures.StepFailed):
    """The input has no rows."""


class SchemaMismatch(failures.StepFailed):
    """A column the model needs is absent, or of a type that cannot hold its values."""


class ModelNotFound(failures.StepFailed):
    """No model directory (model.joblib + signature.json) at the model URI."""


# -- the model ---------------------------------------------------------------------------------------


@dataclass
class Model:
    estimator: Any
    signature: dict[str, Any]
    reference: dict[str, Any] | None
    digest: str | None

    @property
    def features(self) -> list[dict[str, Any]]:
        return list(self.signature["features"])

    @property
    def task(self) -> str:
        return self.signature.get("task") or "classification"


def load_model(model_uri: str, scratch: Path | None = None) -> Model:
    import joblib

    try:
        directory = locations.fetch_directory(model_uri, MODEL_FILES[:2], scratch or Path(tempfile.mkdtemp()))
        signature = json.loads((directory / "signature.json").read_text())
        path = directory / modeldir.MODEL_FILE
        estimator = joblib.load(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelNotFound(f"no model at {model_uri}: {exc}") from exc
    try:
        reference = json.loads(locations.read_bytes(locations.join(model_uri, "reference.json")))
    except (OSError, ValueError):
        reference = None
    return Model(estimator, signature, reference, modeldir.file_digest(path))


# -- the input ---------------------------------------------------------------------------------------


def _files(uri: str, fmt: str) -> list[str]:
    path = locations.local_path(uri)
    if path.is_dir():
        suffixes = {"csv": (".csv", ".csv.gz"), "parquet": (".parquet", ".pq")}[fmt]
        return sorted(str(p) for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes))
    return [str(path)] if path.is_file() else []


def open_input(uri: str, fmt: str, features: list[dict[str, Any]], scratch: Path) -> pads.Dataset:
    """The input as a pyarrow dataset; for CSV the feature columns are read as text and converted per chunk,
    so a bad value rejects its row instead of failing the whole read."""
    if uri.startswith("sklearn:") or uri == "palmerpenguins":
        from . import datasets

        return pads.dataset(pa.Table.from_pandas(datasets.load(uri, fmt, "target"), preserve_index=False))
    if locations.scheme(uri) not in ("", "file"):  # http(s) / s3: one file, staged locally
        try:
            data = locations.read_bytes(uri)
        except Exception as exc:
            raise InputMissing(f"input {uri} could not be read: {exc}") from exc
        staged = scratch / f"input.{fmt}"
        staged.write_bytes(data)
        files = [str(staged)]
    else:
        files = _files(uri, fmt)
    if not files:
        raise InputMissing(f"no {fmt} file at {uri}")
    if fmt == "csv":
        from pyarrow import csv

        text = {f["name"]: pa.string() for f in features}
        file_format = pads.CsvFileFormat(
            convert_options=csv.ConvertOptions(column_types=text, strings_can_be_null=True))
        return pads.dataset(files, format=file_format)
    return pads.dataset(files, format="parquet")


def input_digest(uri: str, fmt: str, dataset: pads.Dataset) -> str:
    """sha256 of the input files' bytes (in order), read in blocks; demo data hashes its table."""
    sha = hashlib.sha256()
    files = getattr(dataset, "files", None)
    if files:
        for name in files:
            sha.update(file_digest(Path(name)).encode())
    else:
        for batch in dataset.to_batches():
            sha.update(pd.util.hash_pandas_object(batch.to_pandas(), index=False).to_numpy().tobytes())
    return "sha256:" + sha.hexdigest()


def check_columns(dataset: pads.Dataset, features: list[dict[str, Any]], keep: list[str]) -> None:
    """Fails when a feature or a kept column is absent, or a feature's column type cannot hold its values."""
    names = set(dataset.schema.names)
    missing = [f["name"] for f in features if f["name"] not in names]
    absent_keep = [k for k in keep if k not in names]
    if missing or absent_keep:
        parts = []
        if missing:
            parts.append(f"feature columns missing from the input: {', '.join(missing)}")
        if absent_keep:
            parts.append(f"output.keepColumns not in the input: {', '.join(absent_keep)}")
        raise SchemaMismatch("; ".join(parts) + f" (input columns: {', '.join(dataset.schema.names)})")
    wrong = []
    for feature in features:
        kind = dataset.schema.field(feature["name"]).type
        if feature["type"] in NUMERIC and not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                                               or pa.types.is_string(kind) or pa.types.is_large_string(kind)
                                               or pa.types.is_null(kind) or pa.types.is_decimal(kind)):
            wrong.append(f"{feature['name']}: expected {feature['type']}, found {kind}")
    if wrong:
        raise SchemaMismatch("columns of the wrong type: " + "; ".join(wrong))


def check_first_chunk(dataset: pads.Dataset, features: list[dict[str, Any]]) -> int:
    """Rows in the first chunk; fails on an empty input, or a numeric feature none of whose values is a number."""
    scanner = dataset.scanner(batch_size=10_000)
    for batch in scanner.to_batches():
        if batch.num_rows == 0:
            continue
        wrong = []
        for feature in features:
            if feature["type"] not in NUMERIC:
                continue
            raw = batch.column(feature["name"])
            values, _ = to_numbers(raw)
            present = int(pc.sum(pc.is_valid(raw)).as_py() or 0)
            if present and not np.isfinite(values).any():
                sample = raw.drop_null()[0].as_py()
                wrong.append(f"{feature['name']}: expected {feature['type']}, found text such as {sample!r}")
        if wrong:
            raise SchemaMismatch("columns of the wrong type: " + "; ".join(wrong))
        return batch.num_rows
    raise EmptyInput("the input has no rows")


def to_numbers(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """float64 values (NaN where missing or not a number) and the mask of present-but-unreadable values."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=float), np.zeros(len(values), dtype=bool)
    if pa.types.is_boolean(kind):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=float), np.zeros(len(values), dtype=bool)
    try:
        values = pc.cast(pc.utf8_trim_whitespace(column), pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=float), np.zeros(len(values), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        series = pd.Series(column.to_pylist(), dtype=object)
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
        present = series.notna().to_numpy() & series.map(lambda v: str(v).strip() != "").to_numpy()
        return values, present & np.isnan(values)


# -- rows --------------------------------------------------------------------------------------------


def _problem(reasons: np.ndarray, mask: np.ndarray, text: Any) -> None:
    """Append `text` (a string, or one string per row) to the reasons of the rows in `mask`."""
    for i in np.flatnonzero(mask):
        part = text if isinstance(text, str) else text[i]
        reasons[i] = part if not reasons[i] else f"{reasons[i]}; {part}"


def check_rows(batch: pa.RecordBatch, features: list[dict[str, Any]], schema: dict[str, dict[str, Any]]
               ) -> tuple[pd.DataFrame, np.ndarray]:
    """The model's input frame of a chunk and each row's reason for rejection ('' when accepted)."""
    rows = batch.num_rows
    reasons = np.full(rows, "", dtype=object)
    frame: dict[str, Any] = {}
    for feature in features:
        name, kind = feature["name"], feature["type"]
        declared = schema.get(name, {})
        raw = batch.column(name)
        missing = np.asarray(pc.is_null(raw).to_numpy(zero_copy_only=False), dtype=bool)
        if kind in NUMERIC:
            values, unreadable = to_numbers(raw)
            missing = missing | (np.isnan(values) & ~unreadable)
            if unreadable.any():
                text = raw.to_pylist()
                _problem(reasons, unreadable, {i: f"{name}: not a number ({text[i]!r})" for i in np.flatnonzero(unreadable)})
            present = ~np.isnan(values)
            if kind == "int" and present.any():
                _problem(reasons, present & (values != np.round(values)), f"{name}: not an integer")
            low, high = declared.get("min"), declared.get("max")
            if low is not None:
                below = present & (values < low)
                if below.any():
                    _problem(reasons, below, {i: f"{name}: {values[i]:g} is below min {low:g}" for i in np.flatnonzero(below)})
            if high is not None:
                above = present & (values > high)
                if above.any():
                    _problem(reasons, above, {i: f"{name}: {values[i]:g} is above max {high:g}" for i in np.flatnonzero(above)})
            frame[name] = values  # float64 for float and int features, as the served model receives them
        else:
            values = np.asarray(pc.cast(raw, pa.string()).to_numpy(zero_copy_only=False), dtype=object)
            allowed = declared.get("categories")
            if allowed is not None:
                allowed_set = {str(a) for a in allowed}
                unknown = np.array([v is not None and str(v) not in allowed_set for v in values])
                if unknown.any():
                    _problem(reasons, unknown, {i: f"{name}: unexpected category {values[i]!r}" for i in np.flatnonzero(unknown)})
            frame[name] = values
        nullable = declared.get("nullable", False)  # a missing value is never filled in by guessing
        if missing.any() and not nullable:
            _problem(reasons, missing, f"{name}: missing value")
    return pd.DataFrame(frame), reasons


# -- scoring -----------------------------------------------------------------------------------------


#: Classifiers whose predict() is classes_[argmax(predict_proba())], ties included (sklearn's implementations):
#: for them one pass gives both the label and the score. Any other estimator is asked twice.
ARGMAX_CLASSIFIERS = frozenset({
    "LogisticRegression", "RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier",
    "GradientBoostingClassifier", "HistGradientBoostingClassifier", "GaussianNB", "KNeighborsClassifier",
})


def _final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def predict(model: Model, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The model's answers for the rows of `frame`: its prediction (what the served model answers), and for two
    classes the positive-class score."""
    classes = model.signature.get("classes")
    estimator = model.estimator
    if model.task == "classification" and classes and len(classes) == 2 and hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(frame))
        if type(_final_step(estimator)).__name__ in ARGMAX_CLASSIFIERS:
            labels = np.asarray(estimator.classes_).take(np.argmax(proba, axis=1))
        else:
            labels = np.asarray(estimator.predict(frame))
        return {PREDICTION: labels, SCORE: proba[:, 1].astype(float)}
    return {PREDICTION: np.asarray(estimator.predict(frame))}


@dataclass
class Tally:
    """What one shard saw: counts that add up across chunks and shards."""

    rows: int = 0
    scored: int = 0
    rejected: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    score_sum: float = 0.0
    score_min: float | None = None
    score_max: float | None = None
    feature_counts: np.ndarray | None = None
    prediction_counts: np.ndarray | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # output file -> digest

    def document(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "scored": self.scored, "rejected": self.rejected, "classes": self.classes,
            "scoreSum": self.score_sum, "scoreMin": self.score_min, "scoreMax": self.score_max,
            "featureCounts": None if self.feature_counts is None else self.feature_counts.tolist(),
            "predictionCounts": None if self.prediction_counts is None else self.prediction_counts.tolist(),
            "reasons": self.reasons, "files": self.files,
        }


def _references(model: Model):
    from mlops_operator.decisions.drift_reference import parse_reference

    features = predictions = None
    if model.reference:
        try:
            features = parse_reference(model.reference)
        except ValueError:
            features = None
        try:
            predictions = parse_reference(model.reference, "predictions")
        except ValueError:
            predictions = None
    return features, predictions


def _stage(uri: str, scratch: Path) -> Path:
    return locations.local_path(uri) if locations.scheme(uri) in ("", "file") else scratch / "out"


def _batches(dataset: pads.Dataset, chunk_size: int, shard: int, shards: int, columns: list[str]
             ) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(row id of the first row, chunk) of this shard's chunks, in input order.

    Parquet files are split by row group from their metadata, so a shard reads only its own rows;
    other inputs are read by every shard, each scoring every shards-th chunk."""
    files = getattr(dataset, "files", None)
    if files and isinstance(dataset.format, pads.ParquetFileFormat):
        groups = []
        start = 0
        for name in files:
            meta = pq.ParquetFile(name).metadata
            for g in range(meta.num_row_groups):
                groups.append((name, g, start))
                start += meta.row_group(g).num_rows
        for index, (name, group, offset) in enumerate(groups):
            if index % shards != shard:
                continue
            handle = pq.ParquetFile(name)
            for batch in handle.iter_batches(batch_size=chunk_size, row_groups=[group], columns=columns,
                                             use_threads=True):
                yield offset, batch
                offset += batch.num_rows
        return
    offset = 0
    index = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    pending_start = 0
    for batch in dataset.scanner(columns=columns, batch_size=chunk_size).to_batches():
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= chunk_size:
            if index % shards == shard:
                yield pending_start, _concat(pending)
            index += 1
            pending_start += pending_rows
            pending, pending_rows = [], 0
        offset += batch.num_rows
    if pending and index % shards == shard:
        yield pending_start, _concat(pending)


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


@dataclass
class Chunk:
    """What scoring one chunk produced: its output tables and its counts (merged into the shard's Tally in order)."""

    rows: int
    scored: int
    predictions: pa.Table | None = None
    rejected: pa.Table | None = None
    classes: dict[str, int] = field(default_factory=dict)
    score_sum: float = 0.0
    score_min: float | None = None
    score_max: float | None = None
    feature_counts: np.ndarray | None = None
    prediction_counts: np.ndarray | None = None
    reasons: dict[str, int] = field(default_factory=dict)


def score_chunk(model: Model, start: int, batch: pa.RecordBatch, schema: dict[str, dict[str, Any]], keep: list[str],
                columns: list[str], feature_ref: Any, prediction_ref: Any) -> Chunk:
    """Check, score and count one chunk (no shared state: chunks are scored in parallel threads)."""
    from mlops_operator.decisions.drift_reference import count_bins

    rows = batch.num_rows
    ids = np.arange(start, start + rows, dtype=np.int64)
    frame, reasons = check_rows(batch, model.features, schema)
    bad = reasons != ""
    good = ~bad
    chunk = Chunk(rows=rows, scored=int(good.sum()))
    if good.any():
        accepted = frame[good] if bad.any() else frame
        answers = predict(model, accepted)
        table = {ROW_ID: pa.array(ids[good]), PREDICTION: pa.array(answers[PREDICTION])}
        if SCORE in answers:
            table[SCORE] = pa.array(answers[SCORE])
        mask = pa.array(good)
        for name in keep:
            table[name] = batch.column(name).filter(mask) if bad.any() else batch.column(name)
        chunk.predictions = pa.table(table)
        labels = answers[PREDICTION]
        found, found_counts = (np.unique(labels, return_counts=True) if model.task == "classification"
                               else (np.empty(0), np.empty(0)))
        for label, count in zip(found, found_counts):
            chunk.classes[str(modeldir.plain(label))] = int(count)
        values = answers.get(SCORE, labels.astype(float) if model.task != "classification" else None)
        if values is not None and len(values):
            chunk.score_sum, chunk.score_min, chunk.score_max = float(values.sum()), float(values.min()), float(values.max())
        if feature_ref is not None:
            chunk.feature_counts = count_bins(feature_ref, {n: accepted[n].to_numpy() for n in feature_ref.names
                                                            if n in accepted.columns})
        if prediction_ref is not None:
            live = {SCORE: answers[SCORE]} if SCORE in answers else {}
            if model.task != "classification":
                live["value"] = labels.astype(float)
            counts = count_bins(prediction_ref, live)
            if "class" in prediction_ref.names:  # counted from the classes found, not label by label
                row = prediction_ref.names.index("class")
                feature = prediction_ref.features[row]
                for label, count in zip(found, found_counts):
                    key = str(modeldir.plain(label))
                    index = feature.categories.index(key) if key in feature.categories else len(feature.categories)
                    counts[row, index] += int(count)
            chunk.prediction_counts = counts
    if bad.any():
        mask = pa.array(bad)
        table = {ROW_ID: pa.array(ids[bad]), REASON: pa.array(list(reasons[bad]), pa.string())}
        for name in columns:
            table[name] = pc.cast(batch.column(name).filter(mask), pa.string())
        chunk.rejected = pa.table(table)
        for reason in reasons[bad]:
            for one in reason.split("; "):
                key = one.split(":", 1)[0] + ":" + _reason_kind(one)
                chunk.reasons[key] = chunk.reasons.get(key, 0) + 1
    return chunk


def _add(tally: Tally, chunk: Chunk) -> None:
    tally.rows += chunk.rows
    tally.scored += chunk.scored
    tally.rejected += chunk.rows - chunk.scored
    for key, count in chunk.classes.items():
        tally.classes[key] = tally.classes.get(key, 0) + count
    for key, count in chunk.reasons.items():
        tally.reasons[key] = tally.reasons.get(key, 0) + count
    if chunk.score_min is not None:
        tally.score_sum += chunk.score_sum
        tally.score_min = chunk.score_min if tally.score_min is None else min(tally.score_min, chunk.score_min)
        tally.score_max = chunk.score_max if tally.score_max is None else max(tally.score_max, chunk.score_max)
    for name in ("feature_counts", "prediction_counts"):
        counts = getattr(chunk, name)
        if counts is not None:
            current = getattr(tally, name)
            setattr(tally, name, counts if current is None else current + counts)


#: Chunks scored at once (threads: numpy, scikit-learn and pyarrow release the GIL in their heavy parts).
SCORING_THREADS = max(1, min(2, os.cpu_count() or 1))


def score_shard(model: Model, dataset: pads.Dataset, *, schema_columns: list[dict[str, Any]] | None,
                keep: list[str], chunk_size: int, shard: int, shards: int, output_uri: str,
                scratch: Path, threads: int = SCORING_THREADS) -> Tally:
    """Score this shard's chunks; write predictions/part-<shard>.parquet and rejected/part-<shard>.parquet.

    Chunks are scored by `threads` threads and written in input order by one writer thread; at most
    threads + 2 chunks are in memory at any time, whatever the size of the input."""
    names = [f["name"] for f in model.features]
    schema = {c["name"]: c for c in schema_columns or []}
    columns = list(dict.fromkeys(names + keep))
    feature_ref, prediction_ref = _references(model)

    staging = _stage(output_uri, scratch)
    part = f"part-{shard:05d}.parquet"
    predictions_path = staging / PREDICTIONS_DIR / part
    rejected_path = staging / REJECTED_DIR / part
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    rejected_path.parent.mkdir(parents=True, exist_ok=True)
    tally = Tally()
    writers: dict[Path, pq.ParquetWriter] = {}
    scoring = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="batch-score")
    writing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-write")
    in_flight: deque[Future] = deque()
    written: Future | None = None

    def write(chunk: Chunk) -> None:
        for path, table, options in ((predictions_path, chunk.predictions,
                                      {"use_dictionary": [PREDICTION], "write_statistics": [ROW_ID]}),
                                     (rejected_path, chunk.rejected, {})):
            if table is None:
                continue
            if path not in writers:
                writers[path] = pq.ParquetWriter(path, table.schema, **options)
            writers[path].write_table(table)

    def finish_oldest() -> None:
        nonlocal written
        chunk = in_flight.popleft().result()
        _add(tally, chunk)
        if written is not None:
            written.result()
        written = writing.submit(write, chunk)

    try:
        for start, batch in _batches(dataset, chunk_size, shard, shards, columns):
            in_flight.append(scoring.submit(score_chunk, model, start, batch, schema, keep, columns,
                                            feature_ref, prediction_ref))
            if len(in_flight) > threads:
                finish_oldest()
        while in_flight:
            finish_oldest()
        if written is not None:
            written.result()
    finally:
        for future in in_flight:
            future.cancel()
        scoring.shutdown(wait=True)
        writing.shutdown(wait=True)
        for handle in writers.values():
            handle.close()
    for path, folder in ((predictions_path, PREDICTIONS_DIR), (rejected_path, REJECTED_DIR)):
        if path.exists():
            tally.files[f"{folder}/{part}"] = file_digest(path)
    if locations.scheme(output_uri) not in ("", "file"):  # s3: staged locally, published at the end
        locations.copy_directory(staging, output_uri)
    return tally


def file_digest(path: Path) -> str:
    """sha256 of a file, read in blocks (outputs can be larger than memory)."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return "sha256:" + sha.hexdigest()


def _reason_kind(text: str) -> str:
    detail = text.split(":", 1)[1] if ":" in text else text
    for kind in ("not a number", "not an integer", "below min", "above max", "unexpected category", "missing value"):
        if kind in detail:
            return " " + kind
    return " " + detail.strip()


# -- summary -----------------------------------------------------------------------------------------


def merge(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the shards' tallies."""
    total: dict[str, Any] = {"rows": 0, "scored": 0, "rejected": 0, "classes": {}, "scoreSum": 0.0,
                             "scoreMin": None, "scoreMax": None, "featureCounts": None, "predictionCounts": None,
                             "reasons": {}, "files": {}}
    for t in tallies:
        for key in ("rows", "scored", "rejected", "scoreSum"):
            total[key] += t[key]
        for key in ("classes", "reasons"):
            for k, v in t[key].items():
                total[key][k] = total[key].get(k, 0) + v
        total["files"].update(t["files"])
        for key, pick in (("scoreMin", min), ("scoreMax", max)):
            if t[key] is not None:
                total[key] = t[key] if total[key] is None else pick(total[key], t[key])
        for key in ("featureCounts", "predictionCounts"):
            if t[key] is not None:
                counts = np.asarray(t[key])
                total[key] = counts if total[key] is None else np.asarray(total[key]) + counts
    return total


def output_digest(files: dict[str, str]) -> str | None:
    if not files:
        return None
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(files.items()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def drift_summary(reference: dict[str, Any] | None, counts: Any, section: str | None, statistic: str,
                  threshold: float) -> dict[str, Any] | None:
    """The drift verdict of the batch against the model's training reference, when there is one."""
    if reference is None or counts is None:
        return None
    from mlops_operator.decisions.drift import decide
    from mlops_operator.decisions.drift_reference import parse_reference

    try:
        parsed = parse_reference(reference, section)
    except ValueError:
        return None
    report = decide(parsed, np.asarray(counts), statistic=statistic, threshold=threshold)
    return {
        "verdict": report.verdict, "message": report.message(), "statistic": statistic, "threshold": threshold,
        "drifted": report.drifted,
        "features": {f.feature: {"effect": round(f.effect, 6) if np.isfinite(f.effect) else None,
                                 "pValue": round(f.adjusted_p, 6) if np.isfinite(f.adjusted_p) else None,
                                 "rows": f.rows, "drifted": f.drifted} for f in report.features},
    }
