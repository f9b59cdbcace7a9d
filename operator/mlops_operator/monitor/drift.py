"""Live drift and data quality per deployment, predictor and model version, for GET /drift and /metrics.

Every recorded request is counted into the bins of its model version's training reference
(`reference.json` beside the model: `decisions.drift_reference`), into tumbling windows by count
and by time (`decisions.drift_window`); every response's classes and scores likewise, against the
reference's held-out "predictions" section (prediction drift, which shows input shift without
labels). A closed window is kept as the predictor's latest; `report()` judges it with
`decisions.drift.decide` under the caller's policy (statistic, threshold, minimum rows, alpha), so
the operator applies each project's own policy to the same counts.

Data quality counts every input value against the schema the model was trained with (the
`schema` of signature.json when the model directory has one, else the signature's feature types):
`decisions.data_quality.check_batch`. Responses without predictions (the model could not answer)
are counted as `unanswered`.

Windows live in memory: after a restart they fill again from new traffic (a WAL replay feeds them
too), so a verdict is never older than one window of traffic.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_components import locations

from ..decisions import data_quality, drift, drift_reference, drift_window
from . import payloads
from .cloudevents import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFiles:
    """What drift needs of one model directory."""

    inputs: drift_reference.Reference | None
    predictions: drift_reference.Reference | None
    schema: list[dict[str, Any]] | None
    task: str | None


def load_model_files(model_uri: str) -> ModelFiles | None:
    def read(name: str) -> Any:
        try:
            return json.loads(locations.read_bytes(locations.join(model_uri, name)))
        except (OSError, ValueError, RuntimeError):
            return None

    document, signature = read("reference.json"), read("signature.json")
    if document is None and signature is None:
        return None
    inputs = outputs = None
    if isinstance(document, dict):
        try:
            inputs = drift_reference.parse_reference(document)
        except ValueError as exc:
            log.info("reference of %s unusable for drift: %s", model_uri, exc)
        try:
            outputs = drift_reference.parse_reference(document, "predictions")
        except ValueError:
            outputs = None
    schema = None
    if isinstance(signature, dict):
        schema = signature.get("schema") or [
            {"name": f["name"], "type": f["type"], "nullable": True, **{k: f[k] for k in ("min", "max", "categories", "nullable") if k in f}}
            for f in signature.get("features") or [] if isinstance(f, dict) and f.get("name") and f.get("type")]
    return ModelFiles(inputs, outputs, schema or None, (signature or {}).get("task") if isinstance(signature, dict) else None)


@dataclass
class Track:
    """One predictor serving one model version: its open and last closed windows, its quality counts."""

    model_uri: str
    model_version: str
    files: ModelFiles
    inputs: drift_window.Window | None = None
    outputs: drift_window.Window | None = None
    closed_inputs: drift_window.Window | None = None
    closed_outputs: drift_window.Window | None = None
    closed_at: float | None = None
    opened_at: float | None = None  # wall time of the open input window's first request
    closed_started_at: float | None = None  # wall time of the last closed input window's first request
    closed_outputs_at: float | None = None
    windows: int = 0
    quality: dict[str, data_quality.QualityCounts] = field(default_factory=dict)
    unknown_inputs: int = 0
    requests: int = 0
    unanswered: int = 0
    last_seen: float = 0.0


class DriftTracker:
    def __init__(self, *, window_size: int = 500, window_seconds: float | None = 300.0, loader=load_model_files,
                 clock=time.monotonic):
        self.window_size = window_size
        self.window_seconds = window_seconds
        self._loader = loader
        self._clock = clock
        self._files: dict[str, ModelFiles | None] = {}
        #: (namespace, deployment, predictor) -> model URI -> Track
        self.tracks: dict[tuple[str, str, str], dict[str, Track]] = {}

    def _files_of(self, model_uri: str) -> ModelFiles | None:
        if model_uri not in self._files:
            self._files[model_uri] = self._loader(model_uri) if model_uri else None
        return self._files[model_uri]

    def _track(self, event: Event) -> Track | None:
        files = self._files_of(event.model_uri)
        if files is None:
            return None
        by_uri = self.tracks.setdefault((event.namespace, event.deployment, event.predictor), {})
        track = by_uri.get(event.model_uri)
        if track is None:
            track = by_uri[event.model_uri] = Track(event.model_uri, event.model_version, files)
        return track

    def _add(self, window, reference, columns, rows: int, now: float):
        if reference is None:
            return None, ()
        if window is None:
            window = drift_window.empty(len(reference.features), reference.bins)
        counts = drift_reference.count_bins(reference, columns)
        return drift_window.add(window, counts, rows, now, size=self.window_size, seconds=self.window_seconds)

    def observe(self, event: Event) -> None:
        """Count one newly recorded event (never raises: recording matters more than counting)."""
        try:
            self._observe(event)
        except Exception:  # noqa: BLE001
            log.exception("drift counting of %s failed", event.request_id)

    def _observe(self, event: Event) -> None:
        track = self._track(event)
        if track is None:
            return
        now = self._clock()
        track.last_seen = time.time()
        if event.kind == "request":
            columns = payloads.features(event.body)
            rows = max((len(v) for v in columns.values()), default=0)
            track.requests += 1
            if track.files.schema and columns:
                try:
                    batch = data_quality.check_batch(track.files.schema, columns)
                except ValueError:  # inputs of different lengths: the model cannot answer it either
                    batch = {}
                for name, q in batch.items():
                    track.quality[name] = track.quality.get(name, data_quality.QualityCounts()) + q
                track.unknown_inputs += len(data_quality.unknown_inputs(track.files.schema, columns))
            wall = time.time()
            opening = track.inputs is None or not track.inputs.requests
            track.inputs, closed = self._add(track.inputs, track.files.inputs, columns, 1 if rows else 0, now)
            if closed:
                track.closed_inputs, track.closed_at = closed[-1], wall
                track.closed_started_at = wall if opening else track.opened_at
                track.windows += len(closed)
            if track.inputs is not None and track.inputs.requests and (opening or closed):
                track.opened_at = wall
        else:
            preds = payloads.predictions(event.body)
            if preds is None or (isinstance(event.body, dict) and event.body.get("error")):
                track.unanswered += 1
                return
            reference = track.files.predictions
            if reference is None:
                return
            columns: dict[str, list[Any]] = {}
            names = reference.names
            if "class" in names:
                columns["class"] = [payloads.class_name(p) for p in preds]
            if "value" in names:
                columns["value"] = preds
            if "score" in names:
                scores = _scores(event.body)
                if scores is not None:
                    columns["score"] = scores
            track.outputs, closed = self._add(track.outputs, reference, columns, 1, now)
            if closed:
                track.closed_outputs, track.closed_outputs_at = closed[-1], time.time()

    def tick(self) -> None:
        """Close windows whose time is up (for a timer: traffic may have stopped)."""
        now = self._clock()
        for by_uri in self.tracks.values():
            for track in by_uri.values():
                for attr, closed_attr, at_attr in (("inputs", "closed_inputs", "closed_at"),
                                                   ("outputs", "closed_outputs", "closed_outputs_at")):
                    window = getattr(track, attr)
                    if window is None or not window.requests:
                        continue
                    window, closed = drift_window.tick(window, now, seconds=self.window_seconds)
                    setattr(track, attr, window)
                    if closed:
                        setattr(track, closed_attr, closed[-1])
                        setattr(track, at_attr, time.time())
                        if attr == "inputs":
                            track.windows += 1
                            track.closed_started_at = track.opened_at

    # -- reading -----------------------------------------------------------------------------

    def report(self, namespace: str, deployment: str, *, statistic: str = "psi", threshold: float = 0.2,
               min_rows: int = 100, alpha: float = 0.05, top: int = 5) -> dict[str, Any]:
        """The latest verdict per predictor (its newest model version), as JSON."""
        predictors: dict[str, Any] = {}
        for (ns, dep, pred), by_uri in sorted(self.tracks.items()):
            if (ns, dep) != (namespace, deployment) or not by_uri:
                continue
            track = max(by_uri.values(), key=lambda t: t.last_seen)
            entry: dict[str, Any] = {"modelUri": track.model_uri,
                                     "modelVersion": track.model_version or version_of(track.model_uri),
                                     "requests": track.requests, "unanswered": track.unanswered,
                                     "windows": track.windows, "quality": _quality_json(track)}
            kwargs = dict(statistic=statistic, threshold=threshold, min_rows=min_rows, alpha=alpha)
            entry["input"] = _verdict(track.files.inputs, track.closed_inputs, track.closed_at, track.inputs, top, kwargs)
            if entry["input"] and "window" in entry["input"]:
                entry["input"]["window"]["startedAt"] = track.closed_started_at
            entry["prediction"] = _verdict(track.files.predictions, track.closed_outputs, track.closed_outputs_at,
                                           track.outputs, top, kwargs)
            predictors[pred] = entry
        return {"namespace": namespace, "deployment": deployment, "windowSize": self.window_size,
                "windowSeconds": self.window_seconds, "predictors": predictors}

    def latest_statistics(self):
        """(namespace, deployment, predictor, feature, statistics dict) of every latest input window, for /metrics."""
        for (ns, dep, pred), by_uri in sorted(self.tracks.items()):
            if not by_uri:
                continue
            track = max(by_uri.values(), key=lambda t: t.last_seen)
            if track.files.inputs is None or track.closed_inputs is None:
                continue
            s = drift.statistics(track.files.inputs, track.closed_inputs.counts)
            for i, f in enumerate(track.files.inputs.features):
                yield ns, dep, pred, f.name, {k: float(v[i]) for k, v in s.items()}

    def quality(self):
        for (ns, dep, pred), by_uri in sorted(self.tracks.items()):
            for track in by_uri.values():
                yield ns, dep, pred, track


def version_of(model_uri: str) -> str:
    """A model version's name from its URI when the events carry none: the run directory of .../<run>/model."""
    parts = [p for p in model_uri.rstrip("/").split("/") if p]
    if len(parts) >= 2 and parts[-1] == "model":
        return parts[-2]
    return parts[-1] if parts else ""


def _scores(body: Any) -> list[float] | None:
    """Positive-class (or top) probabilities of a response's predict_proba output, when it has one."""
    outputs = body.get("outputs") if isinstance(body, dict) else None
    for output in outputs or []:
        if isinstance(output, dict) and output.get("name") in ("predict_proba", "probabilities", "proba"):
            data, shape = output.get("data"), output.get("shape") or []
            try:
                matrix = np.asarray(data, dtype=float).reshape(int(shape[0]), -1) if len(shape) >= 1 else None
            except (TypeError, ValueError):
                return None
            if matrix is None or matrix.size == 0:
                return None
            return list(matrix[:, 1] if matrix.shape[1] == 2 else matrix.max(axis=1))
    return None


def _quality_json(track: Track) -> dict[str, Any]:
    features = {name: {"rows": q.rows, "missing": q.missing, "wrongType": q.wrong_type, "outOfRange": q.out_of_range,
                       "unknownCategory": q.unknown_category, "bad": q.bad} for name, q in sorted(track.quality.items())}
    return {"features": features, "unknownInputs": track.unknown_inputs,
            "badValues": sum(q.bad for q in track.quality.values())}


def _verdict(reference, closed, closed_at, current, top: int, kwargs) -> dict[str, Any] | None:
    if reference is None:
        return None
    out: dict[str, Any] = {"open": {"requests": current.requests if current is not None else 0}}
    if closed is None:
        out.update(verdict="Inconclusive", reason="no window closed yet", features=[])
        return out
    report = drift.decide(reference, closed.counts, **kwargs)
    out.update(verdict=report.verdict, reason=report.reason, message=report.message(),
               window={"requests": closed.requests, "closedAt": closed_at},
               drifted=report.drifted,
               features=[_feature_json(f) for f in report.features[:top]])
    return out


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _feature_json(f: drift.FeatureDrift) -> dict[str, Any]:
    return {"feature": f.feature, "kind": f.kind, "rows": f.rows, "drifted": f.drifted, "effect": _num(f.effect),
            "psi": _num(f.psi), "js": _num(f.js), "ks": _num(f.ks), "wasserstein": _num(f.wasserstein),
            "chi2": _num(f.chi2), "pValue": _num(f.p_value), "adjustedP": _num(f.adjusted_p)}
