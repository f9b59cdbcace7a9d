"""The rules of a BatchPrediction: which model version a run uses, when a scheduled run is due, what a
finished run's outcome means (phase, condition reason, Event), and the bounded history of runs.

Pure: the handler passes what it read (index entries, the backend's outcome) and writes what comes back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..api.batchprediction import BatchModelSource
from ..api.common import from_rfc3339
from .schedule import last_fire_time

#: Causes of a failed run a user can act on, as the pipeline's steps name them (their exception's class).
INPUT_FAILURES = ("InputMissing", "EmptyInput", "SchemaMismatch", "ModelNotFound")
#: Lost runs (the runner vanished) resubmitted before the run counts as failed.
MAX_LOST = 3


@dataclass(frozen=True)
class ModelChoice:
    """The model version a run scores with, or why there is none yet (reason ModelNotFound)."""

    uri: str | None
    training_run: str | None
    message: str = ""

    @property
    def found(self) -> bool:
        return self.uri is not None


def choose_model(source: BatchModelSource, project: str | None, project_view: dict[str, Any] | None,
                 run: Any | None) -> ModelChoice:
    """`project_view`: the projects index entry ({spec, champion}); `run`: the RunSummary of the TrainingRun named
    by source.trainingRun, or of the project's champion."""
    if source.uri:
        return ModelChoice(source.uri, None)
    if source.champion:
        if project_view is None:
            return ModelChoice(None, None, f"spec.projectRef.name: MLProject {project!r} not found")
        champion = project_view.get("champion") or {}
        if not champion.get("trainingRun"):
            return ModelChoice(None, None, f"spec.projectRef.name: MLProject {project!r} has no champion yet")
        uri = champion.get("modelUri") or (run.model_uri if run is not None else None)
        if not uri:
            return ModelChoice(None, champion["trainingRun"],
                               f"champion {champion['trainingRun']!r} of MLProject {project!r} has no model URI")
        return ModelChoice(uri, champion["trainingRun"])
    name = source.training_run
    if run is None:
        return ModelChoice(None, name, f"spec.model.trainingRun: TrainingRun {name!r} not found")
    if run.phase != "Blessed":
        return ModelChoice(None, name, f"spec.model.trainingRun: TrainingRun {name!r} is "
                                       f"{run.phase or 'not finished'}, not Blessed")
    if not run.model_uri:
        return ModelChoice(None, name, f"spec.model.trainingRun: TrainingRun {name!r} has no model URI")
    return ModelChoice(run.model_uri, name)


def due(schedule: str, last_scheduled: str | None, created: str | None, now: float) -> float | None:
    """The schedule time to run for now, or None. A new BatchPrediction waits for its first schedule time;
    missed times collapse into one run (the latest)."""
    after = from_rfc3339(last_scheduled) if last_scheduled else (from_rfc3339(created) if created else now - 60)
    return last_fire_time(schedule, after, now)


def run_name(prediction: str, fire_time: float | None) -> str:
    """A one-off run is named after its BatchPrediction; a scheduled one adds its schedule time (UTC)."""
    if fire_time is None:
        return prediction
    return f"{prediction}-{datetime.fromtimestamp(fire_time, timezone.utc):%Y%m%d-%H%M}"


@dataclass(frozen=True)
class RunVerdict:
    phase: str  # Running | Succeeded | Failed
    reason: str
    message: str
    event: tuple[str, str, str] | None = None  # (type, reason, message)
    retry: bool = False  # submit again (the run was lost)

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


def run_verdict(run: str, state: str, message: str, error: dict[str, Any] | None, result: dict[str, Any] | None,
                lost: int = 0) -> RunVerdict:
    """What a backend outcome means for the run: state is Pending/Running/Succeeded/Failed/Lost."""
    if state in ("Pending", "Running"):
        return RunVerdict("Running", "Running", f"run {run}: {message}")
    if state == "Lost":
        if lost < MAX_LOST:
            return RunVerdict("Running", "Resubmitting", f"run {run}: {message}; submitting again", retry=True)
        text = f"run {run} lost {lost} times: {message}"
        return RunVerdict("Failed", "PipelineLost", text, ("Warning", "PipelineLost", text))
    if state == "Succeeded":
        result = result or {}
        scored, rejected = int(result.get("rowsScored") or 0), int(result.get("rowsRejected") or 0)
        if scored == 0:
            text = (f"run {run}: all {rejected} rows rejected, none scored" if rejected
                    else f"run {run}: no rows scored")
            top = ", ".join(f"{k} ({v})" for k, v in list(((result.get("summary") or {}).get("rejectedBy") or {})
                                                          .items())[:3])
            text += f" - {top}" if top else ""
            return RunVerdict("Failed", "AllRowsRejected" if rejected else "EmptyInput", text,
                              ("Warning", "AllRowsRejected" if rejected else "EmptyInput", text))
        drift = ((result.get("summary") or {}).get("drift") or {})
        text = f"run {run}: {scored} rows scored, {rejected} rejected"
        if drift.get("verdict") == "Drifted":
            text += f"; input drifted from the training data: {drift.get('message')}"
        return RunVerdict("Succeeded", "Scored", text, ("Normal", "BatchSucceeded", text))
    # Failed
    kind = (error or {}).get("error")
    reason = kind if kind in INPUT_FAILURES else "PipelineFailed"
    if error and error.get("message"):
        text = f"run {run}: step {error.get('step')} failed: {error.get('message')}"
    else:
        text = f"run {run}: {message}"
    return RunVerdict("Failed", reason, text, ("Warning", reason, text))


def object_phase(scheduled: bool, run_phase: str | None) -> str:
    """A one-off BatchPrediction's phase is its run's; a scheduled one is Running during a run, else Scheduled."""
    if not scheduled:
        return run_phase or "Pending"
    return "Running" if run_phase == "Running" else "Scheduled"


def record(history: list[dict[str, Any]], entry: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Finished runs, newest first, at most `limit`; a run recorded twice (a retried write) is kept once."""
    kept = [h for h in history if h.get("name") != entry.get("name")]
    return [entry, *kept][:limit]


def summary_for_status(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """The summary without per-feature drift details (those stay in summary.json), for status."""
    if not summary:
        return None
    out = dict(summary)
    for key in ("drift", "predictionDrift"):
        if isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k != "features"}
    return out
