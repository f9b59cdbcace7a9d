"""Records and labels: in memory for joins and counts, on disk in a write-ahead log and Parquet.

Layout under the data directory:

    wal/wal-NNNNNNNN.log                                   accepted events and labels, fsync'd
    records/namespace=N/deployment=D/predictor=P/hour=YYYYMMDDHH/part-S-I.parquet
    labels/hour=YYYYMMDDHH/part-S.parquet                  (hour of arrival)

One record is one request id at one predictor: the request and response events are joined into
it. Compaction (every few seconds, and on stop) writes joined records, records whose other half
did not come within `join_timeout`, and new labels to new Parquet files (never rewriting old ones),
then deletes the WAL segments it covered; a half record still waiting is carried into the new
segment. A record written half-joined is completed by a later row; rows merge by key on reading.

In memory, each record keeps only what joins and counts need (time, predictions, shadow flag);
counts are kept per hour so retention drops whole hours. Labels are keyed by request id and
apply to every predictor that answered it (the stable one and its shadow alike). A label may
come before its prediction: it is kept and joins when the record arrives.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from mlops_components import locations

from . import payloads
from .cloudevents import Event
from .reference import References
from .wal import WriteAheadLog

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # namespace, deployment, predictor, request id

RECORD_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("namespace", pa.string()), ("deployment", pa.string()),
    ("predictor", pa.string()), ("model_id", pa.string()), ("model_version", pa.string()),
    ("model_uri", pa.string()), ("shadow", pa.bool_()), ("time", pa.float64()),
    ("request", pa.string()), ("response", pa.string()),
])
LABEL_SCHEMA = pa.schema([("request_id", pa.string()), ("label", pa.string()), ("at", pa.float64())])

#: Upper bounds of the score histogram of regression predictions.
SCORE_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0, float("inf"))


def hour_of(at: float) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(at))


@dataclass
class Info:
    """What memory keeps of one record."""

    time: float
    shadow: bool = False
    model_version: str = ""
    task: str | None = None
    has_request: bool = False
    predictions: list[Any] | None = None
    probabilities: list[list[float]] | None = None  # class probabilities, when the answer had them (log loss)
    classes: tuple[str, ...] | None = None  # the model's classes in column order (its signature)
    outcome: payloads.Outcome | None = None  # its current contribution to the counts


@dataclass
class Counts:
    """Counts of one predictor in one hour."""

    records: int = 0
    responses: int = 0
    labelled: int = 0
    rows: int = 0
    correct: int = 0
    incorrect: int = 0
    error_sum: float = 0.0
    abs_error_sum: float = 0.0
    squared_error_sum: float = 0.0
    quartic_error_sum: float = 0.0
    log_loss_rows: int = 0
    log_loss_sum: float = 0.0
    log_loss_squared_sum: float = 0.0
    classes: collections.Counter = field(default_factory=collections.Counter)
    scores: collections.Counter = field(default_factory=collections.Counter)  # bucket bound -> count
    score_sum: float = 0.0
    bins: collections.Counter = field(default_factory=collections.Counter)  # (feature, bin) -> count
    unbinned: int = 0  # requests without a training reference to bin them

    def add_outcome(self, o: payloads.Outcome, sign: int) -> None:
        self.labelled += sign
        self.rows += sign * o.rows
        self.correct += sign * o.correct
        self.incorrect += sign * o.incorrect
        self.error_sum += sign * o.error_sum
        self.abs_error_sum += sign * o.abs_error_sum
        self.squared_error_sum += sign * o.squared_error_sum
        self.quartic_error_sum += sign * o.quartic_error_sum
        self.log_loss_rows += sign * o.log_loss_rows
        self.log_loss_sum += sign * o.log_loss_sum
        self.log_loss_squared_sum += sign * o.log_loss_squared_sum

    def merge(self, other: "Counts") -> None:
        for name in ("records", "responses", "labelled", "rows", "correct", "incorrect", "error_sum",
                     "abs_error_sum", "squared_error_sum", "quartic_error_sum", "log_loss_rows", "log_loss_sum",
                     "log_loss_squared_sum", "score_sum", "unbinned"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.classes.update(other.classes)
        self.scores.update(other.scores)
        self.bins.update(other.bins)


@dataclass
class Pending:
    """A record not yet in Parquet."""

    event: Event  # the first event (identity and metadata)
    request: Any = None
    response: Any = None
    has_request: bool = False
    has_response: bool = False


class Store:
    def __init__(self, data_dir: Path, *, retention_hours: float = 24 * 7, join_timeout: float = 300.0,
                 references: References | None = None, archive_root: str | None = None):
        self.data_dir = Path(data_dir)
        #: Where each Parquet file is also copied (an s3:// prefix on a cluster), through the one storage layer:
        #: the local files stay the monitor's own copy; the archive outlives retention and the volume.
        self.archive_root = archive_root
        self.unarchived: list[Path] = []
        self._archive_failing = False
        self.retention_hours = retention_hours
        self.join_timeout = join_timeout
        self.references = references or References()
        self.infos: dict[Key, Info] = {}
        self.by_request: dict[str, list[Key]] = collections.defaultdict(list)
        self.labels: dict[str, tuple[Any, float]] = {}
        self.counts: dict[tuple[str, str, str, str], Counts] = collections.defaultdict(Counts)
        self.pending: dict[Key, Pending] = {}
        self.pending_labels: list[tuple[str, Any, float]] = []
        self.refused: collections.Counter = collections.Counter()  # (ns, dep, predictor, reason)
        self.wal: WriteAheadLog | None = None
        self.on_event = None  # called with each newly accepted event (live or replayed from the WAL): drift counts
        self._seq = 0
        self._compact_lock = asyncio.Lock()

    # -- start -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Load Parquet within retention, replay the WAL, then compact what was replayed."""
        self.remove_expired()
        for path in sorted(self.data_dir.glob("records/*/*/*/*/part-*.parquet")):
            self._seq = max(self._seq, _seq_of(path))
            for row in pq.read_table(path).to_pylist():
                self._apply_row(row)
        for path in sorted(self.data_dir.glob("labels/*/part-*.parquet"), key=_seq_of):
            self._seq = max(self._seq, _seq_of(path))
            for row in pq.read_table(path).to_pylist():
                self._set_label(row["request_id"], json.loads(row["label"]), row["at"])
        self.wal = WriteAheadLog(self.data_dir / "wal")
        replayed = self.wal.segments()[:-1]
        for entry in WriteAheadLog.replay(replayed):
            if entry.get("t") == "e":
                self.apply_event(_event_from_json(entry))
            elif entry.get("t") == "l":
                if self._set_label(entry["id"], entry["label"], entry["at"]) is not None:
                    self.pending_labels.append((entry["id"], entry["label"], entry["at"]))
        await self.compact()

    def _apply_row(self, row: dict[str, Any]) -> None:
        base = Event("request", row["request_id"], row["namespace"], row["deployment"], row["predictor"],
                     row["model_id"] or "", row["model_version"] or "", row["model_uri"] or "",
                     bool(row["shadow"]), row["time"], None)
        if row["request"] is not None:
            self._apply(_replace(base, "request", json.loads(row["request"])), keep=False)
        if row["response"] is not None:
            self._apply(_replace(base, "response", json.loads(row["response"])), keep=False)

    # -- events ------------------------------------------------------------------------------

    async def add_event(self, event: Event) -> bool:
        """Record one event durably; False when it was already recorded (a resend)."""
        return await self.add_events([event]) == 1

    async def add_events(self, events: list[Event]) -> int:
        """Record events durably (one WAL write); returns how many were new."""
        assert self.wal is not None
        new = [e for e in events if self.apply_event(e)]
        if new:
            await self.wal.append(*(_event_to_json(e) for e in new))
        else:
            await self.wal.drain()  # a first copy may still be on its way to disk
        return len(new)

    def apply_event(self, event: Event) -> bool:
        return self._apply(event, keep=True)

    def _apply(self, event: Event, keep: bool) -> bool:
        key = event.key()
        info = self.infos.get(key)
        if info is None:
            info = Info(time=event.time, shadow=event.shadow, model_version=event.model_version)
            self.infos[key] = info
            self.by_request[event.request_id].append(key)
        counts = self.counts[(*key[:3], hour_of(info.time))]
        reference = self.references.get(event.model_uri)
        if reference is not None and reference.task:
            info.task = reference.task
        if event.kind == "request":
            if info.has_request:
                return False
            info.has_request = True
            counts.records += 1
            self._bin(counts, event.body, reference)
        else:
            if info.predictions is not None:
                return False
            info.predictions = payloads.predictions(event.body) or []
            info.probabilities = payloads.probabilities(event.body)
            info.classes = reference.classes if reference is not None else None
            info.task = info.task or payloads.task_of(event.body)
            counts.responses += 1
            self._count_predictions(counts, info)
        if keep:
            pending = self.pending.get(key)
            if pending is None:
                pending = self.pending[key] = Pending(event)
            if event.kind == "request":
                pending.request, pending.has_request = event.body, True
            else:
                pending.response, pending.has_response = event.body, True
            if self.on_event is not None:
                self.on_event(event)
        self._rejudge(key, info)
        return True

    @staticmethod
    def _bin(counts: Counts, request: Any, reference) -> None:
        if reference is None:
            counts.unbinned += 1
            return
        for name, values in payloads.features(request).items():
            for value in values:
                label = reference.bin(name, value)
                if label is not None:
                    counts.bins[(name, label)] += 1

    @staticmethod
    def _count_predictions(counts: Counts, info: Info) -> None:
        preds = info.predictions or []
        if payloads.is_regression(preds, info.task):
            for p in preds:
                try:
                    score = float(p)
                except (TypeError, ValueError):
                    continue
                counts.score_sum += score
                counts.scores[next(b for b in SCORE_BUCKETS if score <= b)] += 1
        else:
            counts.classes.update(payloads.class_name(p) for p in preds)

    def _rejudge(self, key: Key, info: Info) -> None:
        """Bring the record's labelled contribution in line with its label and predictions."""
        label = self.labels.get(key[3])
        new = payloads.outcome(info.predictions, label[0], info.task, info.probabilities, info.classes) if label else None
        if new == info.outcome:
            return
        counts = self.counts[(*key[:3], hour_of(info.time))]
        if info.outcome is not None:
            counts.add_outcome(info.outcome, -1)
        if new is not None:
            counts.add_outcome(new, +1)
        info.outcome = new

    # -- labels ------------------------------------------------------------------------------

    async def add_labels(self, items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """Record labels durably. Same label again: unchanged. A different one: replaces the old."""
        now = time.time()
        result: dict[str, list] = {"accepted": [], "unchanged": [], "replaced": [], "unknown": []}
        entries = []
        for request_id, label in items:
            if not self.by_request.get(request_id):
                result["unknown"].append(request_id)
            previous = self._set_label(request_id, label, now)
            if previous is None:
                result["unchanged"].append(request_id)
                continue
            entries.append({"t": "l", "id": request_id, "label": label, "at": now})
            self.pending_labels.append((request_id, label, now))
            if previous is _NEW:
                result["accepted"].append(request_id)
            else:
                result["replaced"].append({"requestId": request_id, "previous": previous[0], "label": label})
        assert self.wal is not None
        if entries:
            await self.wal.append(*entries)
        else:
            await self.wal.drain()  # an unchanged label may still be on its way to disk
        return result

    def _set_label(self, request_id: str, label: Any, at: float):
        """None when unchanged, _NEW for a first label, else the previous (label, at)."""
        previous = self.labels.get(request_id)
        if previous is not None and previous[0] == label and type(previous[0]) is type(label):
            return None
        self.labels[request_id] = (label, at)
        for key in self.by_request.get(request_id, ()):
            self._rejudge(key, self.infos[key])
        return previous if previous is not None else _NEW

    # -- compaction and retention ------------------------------------------------------------

    async def compact(self) -> int:
        """Move what the WAL holds into Parquet; returns the number of record rows written."""
        async with self._compact_lock:
            assert self.wal is not None
            old = await self.wal.rotate()
            now = time.time()
            ready: list[Pending] = []
            carried: list[Pending] = []
            for key, p in list(self.pending.items()):
                info = self.infos.get(key)
                complete = info is None or (info.has_request and info.predictions is not None)
                if complete or now - p.event.time >= self.join_timeout:
                    ready.append(self.pending.pop(key))
                else:
                    carried.append(p)
            labels, self.pending_labels = self.pending_labels, []
            carry = [_event_to_json(_replace(p.event, k, body)) for p in carried
                     for k, body, present in (("request", p.request, p.has_request),
                                              ("response", p.response, p.has_response)) if present]
            if carry:
                await self.wal.append(*carry)
            self._seq += 1
            written = await asyncio.to_thread(self._write_parquet, self._seq, ready, labels)
            for path in old:
                path.unlink(missing_ok=True)
            if self.archive_root:
                self.unarchived += written
                await asyncio.to_thread(self._archive)
            return len(ready)

    def _archive(self) -> None:
        """Copy new Parquet files to the archive; what fails is tried again at the next compaction."""
        while self.unarchived:
            path = self.unarchived[0]
            uri = locations.join(self.archive_root, *path.relative_to(self.data_dir).parts)
            try:
                if path.exists():  # retention may have removed it meanwhile
                    locations.write_bytes(uri, path.read_bytes())
            except (locations.StorageError, OSError) as exc:
                if not self._archive_failing:  # once per outage, not at every compaction
                    log.warning("archiving record files to %s failed, retrying at each compaction: %s",
                                self.archive_root, exc)
                self._archive_failing = True
                return
            self.unarchived.pop(0)
        if self._archive_failing:
            log.info("archive at %s caught up", self.archive_root)
            self._archive_failing = False

    def _write_parquet(self, seq: int, ready: list[Pending], labels: list[tuple[str, Any, float]]) -> list[Path]:
        partitions: dict[tuple[str, str, str, str], list[dict[str, Any]]] = collections.defaultdict(list)
        for p in ready:
            e = p.event
            partitions[(e.namespace, e.deployment, e.predictor, hour_of(e.time))].append({
                "request_id": e.request_id, "namespace": e.namespace, "deployment": e.deployment,
                "predictor": e.predictor, "model_id": e.model_id, "model_version": e.model_version,
                "model_uri": e.model_uri, "shadow": e.shadow, "time": e.time,
                "request": json.dumps(p.request) if p.has_request else None,
                "response": json.dumps(p.response) if p.has_response else None,
            })
        written = []
        for i, ((ns, dep, pred, hour), rows) in enumerate(sorted(partitions.items())):
            directory = self.data_dir / "records" / f"namespace={ns}" / f"deployment={dep}" / f"predictor={pred}" / f"hour={hour}"
            written.append(directory / f"part-{seq:08d}-{i:04d}.parquet")
            _write_table(pa.Table.from_pylist(rows, schema=RECORD_SCHEMA), written[-1])
        by_hour: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for request_id, label, at in labels:
            by_hour[hour_of(at)].append({"request_id": request_id, "label": json.dumps(label), "at": at})
        for hour, rows in by_hour.items():
            written.append(self.data_dir / "labels" / f"hour={hour}" / f"part-{seq:08d}.parquet")
            _write_table(pa.Table.from_pylist(rows, schema=LABEL_SCHEMA), written[-1])
        return written

    def remove_expired(self, now: float | None = None) -> int:
        """Delete hour partitions older than the retention, on disk and in memory; returns how many."""
        cutoff = hour_of((now or time.time()) - self.retention_hours * 3600)
        removed = 0
        for directory in list(self.data_dir.glob("records/*/*/*/hour=*")) + list(self.data_dir.glob("labels/hour=*")):
            if directory.name.split("=", 1)[1] < cutoff:
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        for key in [k for k, c in self.counts.items() if k[3] < cutoff]:
            del self.counts[key]
        for key in [k for k, i in self.infos.items() if hour_of(i.time) < cutoff]:
            del self.infos[key]
            self.pending.pop(key, None)
            keys = self.by_request.get(key[3], [])
            if key in keys:
                keys.remove(key)
            if not keys:
                self.by_request.pop(key[3], None)
        for request_id in [r for r, (_, at) in self.labels.items() if hour_of(at) < cutoff]:
            del self.labels[request_id]
            for key in self.by_request.get(request_id, ()):
                self._rejudge(key, self.infos[key])
        return removed

    async def close(self) -> None:
        if self.wal is not None:
            await self.compact()
            self.wal.close()
            self.wal = None

    # -- reading -----------------------------------------------------------------------------

    def totals(self) -> dict[tuple[str, str, str], Counts]:
        """Counts per predictor, summed over the retained hours."""
        out: dict[tuple[str, str, str], Counts] = collections.defaultdict(Counts)
        for (ns, dep, pred, _), c in self.counts.items():
            out[(ns, dep, pred)].merge(c)
        return out

    def summary(self, namespace: str, deployment: str, pairs: int = 0) -> dict[str, Any]:
        predictors: dict[str, Any] = {}
        shadows: set[str] = set()
        for (ns, dep, pred), c in sorted(self.totals().items()):
            if (ns, dep) != (namespace, deployment):
                continue
            predictors[pred] = {
                "records": c.records, "responses": c.responses, "labelled": c.labelled, "rows": c.rows,
                "correct": c.correct, "incorrect": c.incorrect, "errorSum": c.error_sum,
                "absErrorSum": c.abs_error_sum, "squaredErrorSum": c.squared_error_sum,
                "quarticErrorSum": c.quartic_error_sum, "logLossRows": c.log_loss_rows,
                "logLossSum": c.log_loss_sum, "logLossSquaredSum": c.log_loss_squared_sum,
            }
        for key, info in self.infos.items():
            if key[:2] == (namespace, deployment) and key[2] in predictors:
                predictors[key[2]].setdefault("modelVersions", set()).add(info.model_version)
                if info.shadow:
                    shadows.add(key[2])
        for name, entry in predictors.items():
            entry["modelVersions"] = sorted(v for v in entry.get("modelVersions", ()) if v)
            entry["shadow"] = name in shadows
        out: dict[str, Any] = {"namespace": namespace, "deployment": deployment, "predictors": predictors,
                               "labels": sum(1 for k in self.infos if k[:2] == (namespace, deployment)
                                             and k[3] in self.labels)}
        if pairs:
            out["pairs"] = list(self._pairs(namespace, deployment, pairs))
        return out

    def _pairs(self, namespace: str, deployment: str, limit: int) -> Iterator[dict[str, Any]]:
        """Stable and shadow answers to the same request, newest first, with the label if known."""
        seen = 0
        for request_id, keys in reversed(list(self.by_request.items())):
            mine = [k for k in keys if k[:2] == (namespace, deployment)]
            stable = [k for k in mine if not self.infos[k].shadow]
            shadow = [k for k in mine if self.infos[k].shadow]
            if not stable or not shadow:
                continue
            label = self.labels.get(request_id)
            yield {
                "requestId": request_id,
                "stable": {"predictor": stable[0][2], "predictions": self.infos[stable[0]].predictions},
                "shadow": [{"predictor": k[2], "predictions": self.infos[k].predictions} for k in shadow],
                "label": label[0] if label else None,
            }
            seen += 1
            if seen >= limit:
                return

    def rows(self, namespace: str, deployment: str, since: float | None = None,
             until: float | None = None, include_shadow: bool = False) -> list[dict[str, Any]]:
        """Every retained record of a deployment (Parquet and not yet compacted), merged by key."""
        merged: dict[Key, dict[str, Any]] = {}
        base = self.data_dir / "records" / f"namespace={namespace}" / f"deployment={deployment}"
        for path in sorted(base.glob("*/*/part-*.parquet")):
            for row in pq.read_table(path).to_pylist():
                _merge(merged, row)
        for p in list(self.pending.values()):
            e = p.event
            if (e.namespace, e.deployment) == (namespace, deployment):
                _merge(merged, {"request_id": e.request_id, "namespace": e.namespace, "deployment": e.deployment,
                                "predictor": e.predictor, "model_version": e.model_version, "model_uri": e.model_uri,
                                "shadow": e.shadow,
                                "time": e.time, "request": json.dumps(p.request) if p.has_request else None,
                                "response": json.dumps(p.response) if p.has_response else None})
        out = []
        for row in merged.values():
            if row["shadow"] and not include_shadow:
                continue
            if (since is not None and row["time"] < since) or (until is not None and row["time"] >= until):
                continue
            label = self.labels.get(row["request_id"])
            row["label"] = label[0] if label else None
            row["labelled"] = label is not None
            out.append(row)
        out.sort(key=lambda r: (r["time"], r["request_id"], r["predictor"]))
        return out


_NEW = object()


def _merge(merged: dict[Key, dict[str, Any]], row: dict[str, Any]) -> None:
    key = (row["namespace"], row["deployment"], row["predictor"], row["request_id"])
    current = merged.get(key)
    if current is None:
        merged[key] = dict(row)
        return
    for column in ("request", "response"):
        if current.get(column) is None and row.get(column) is not None:
            current[column] = row[column]


def _seq_of(path: Path) -> int:
    return int(path.stem.split("-")[1])


def _write_table(table: pa.Table, path: Path) -> None:
    """Write, fsync and rename into place: a file is either whole or absent."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(event: Event, kind: str, body: Any) -> Event:
    from dataclasses import replace

    return replace(event, kind=kind, body=body)


def _event_to_json(e: Event) -> dict[str, Any]:
    return {"t": "e", "k": e.kind, "id": e.request_id, "ns": e.namespace, "dep": e.deployment, "pred": e.predictor,
            "mid": e.model_id, "ver": e.model_version, "uri": e.model_uri, "sh": e.shadow, "at": e.time, "body": e.body}


def _event_from_json(d: dict[str, Any]) -> Event:
    return Event(d["k"], d["id"], d["ns"], d["dep"], d["pred"], d["mid"], d["ver"], d["uri"], d["sh"], d["at"], d["body"])
