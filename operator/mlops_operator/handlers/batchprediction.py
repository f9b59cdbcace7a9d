"""BatchPrediction: run the batch-scoring pipeline once or on a schedule, and record each run's outcome."""
from __future__ import annotations

import time
from typing import Any

import kopf
from pydantic import ValidationError

from ..api.batchprediction import TERMINAL_PHASES, BatchPredictionSpec
from ..api.common import GROUP, VERSION, now_rfc3339, to_rfc3339
from ..api.mlproject import MLProjectSpec
from ..batch.backend import BatchBackend, BatchJob
from ..decisions import batch as rules
from . import loop
from .indexes import run_named
from .state import state
from .status import ready, reject_invalid, write_status


@kopf.on.event(GROUP, VERSION, "batchpredictions")
async def batch_event(type: str | None, body: Any, memo: Any, **_: Any) -> None:
    loop.observe(type, body, memo)


@kopf.daemon(GROUP, VERSION, "batchpredictions", cancellation_timeout=30)
async def batch_loop(**kwargs: Any) -> None:
    await loop.run(reconcile_batch, kwargs, kind="BatchPrediction", plural="batchpredictions",
                   interval=state(kwargs["memo"]).settings.reconcile_interval)


def _project(namespace: str, spec: BatchPredictionSpec, projects: Any) -> tuple[dict | None, MLProjectSpec | None]:
    if spec.project_ref is None:
        return None, None
    view = next(iter(projects.get((namespace, spec.project_ref.name), [])), None)
    if view is None:
        return None, None
    try:
        return view, MLProjectSpec.model_validate(view["spec"])
    except ValidationError:
        return view, None


def _job(namespace: str, name: str, run: str, spec: BatchPredictionSpec, project: MLProjectSpec | None,
         model_uri: str, training_run: str | None) -> BatchJob:
    schema = project.dataset.schema_ if project is not None else None
    drift = project.drift if project is not None else None
    return BatchJob(
        namespace=namespace, prediction=name, run=run, model_uri=model_uri, training_run=training_run,
        input_uri=spec.input.resolved_uri(), input_format=spec.input.format, input_version=spec.input.version,
        schema_columns=tuple(c.model_dump(mode="json") for c in schema.columns) if schema is not None else None,
        keep_columns=tuple(spec.output.keep_columns), chunk_size=spec.chunk_size, parallelism=spec.parallelism,
        output_root=spec.output.uri, drift_statistic=drift.statistic if drift else "psi",
        drift_threshold=drift.threshold if drift else 0.2)


def _backend(memo: Any, spec: BatchPredictionSpec, project: MLProjectSpec | None, kind: str | None = None):
    ours = state(memo)
    kind = kind or spec.backend or (project.training.backend if project is not None else None)
    return BatchBackend.of(ours.backends, ours.settings, kind, project)


async def reconcile_batch(
    name: str, namespace: str, body: Any, spec: Any, status: Any, meta: Any, patch: kopf.Patch,
    projects: kopf.Index, training_runs: kopf.Index, memo: Any, **_: Any,
) -> bool:
    """One turn; True once a one-off BatchPrediction has finished (Succeeded or Failed)."""
    generation = meta.get("generation")
    try:
        bp = BatchPredictionSpec.model_validate(dict(spec))
    except ValidationError as e:
        return reject_invalid(e, body, status, patch, generation)
    scheduled = bp.schedule is not None
    if not scheduled and status.get("phase") in TERMINAL_PHASES:
        return True
    view, project = _project(namespace, bp, projects)
    current = dict(status.get("current") or {})
    if current.get("name"):
        return await _follow(name, namespace, body, status, patch, generation, bp, project, current, memo)

    fire = None
    if scheduled:
        fire = rules.due(bp.schedule, status.get("lastScheduledTime"), meta.get("creationTimestamp"), time.time())
        if fire is None:
            fields: dict[str, Any] = {"phase": "Scheduled", "observedGeneration": generation}
            if not status.get("conditions"):
                fields["conditions"] = ready(status, True, "Scheduled", f"waiting for schedule {bp.schedule!r}",
                                             generation)
            write_status(patch, status, fields)
            return False
    run = rules.run_name(name, fire)

    champion_run = ((view or {}).get("champion") or {}).get("trainingRun") if bp.model.champion else None
    lookup = bp.model.training_run or champion_run
    summary = run_named(training_runs, namespace, lookup)
    model = rules.choose_model(bp.model, bp.project_ref.name if bp.project_ref else None, view, summary)
    if not model.found:
        if scheduled:  # this schedule time is skipped, and says why
            _finish(name, body, status, patch, generation, bp, run, fire, {}, rules.RunVerdict(
                "Failed", "ModelNotFound", f"run {run}: {model.message}",
                ("Warning", "ModelNotFound", f"run {run}: {model.message}")), None)
            return False
        _waiting(body, status, patch, generation, "ModelNotFound", model.message)
        return False

    try:
        backend = _backend(memo, bp, project)
    except ValueError as exc:
        _waiting(body, status, patch, generation, "BackendInvalid", str(exc))
        return False
    job = _job(namespace, name, run, bp, project, model.uri, model.training_run)
    outcome = await backend.submit(job)
    current = {"name": run, "startTime": now_rfc3339(), "backend": backend.kind, "lost": 0,
               "scheduledTime": to_rfc3339(fire) if fire is not None else None,
               "lineage": {k: v for k, v in {"trainingRun": model.training_run, "modelUri": model.uri,
                                             "inputUri": job.input_uri, "inputVersion": job.input_version}.items()
                           if v is not None}}
    if scheduled:
        patch.status["lastScheduledTime"] = to_rfc3339(fire)
    kopf.event(body, type="Normal", reason="BatchStarted",
               message=f"run {run} scores {job.input_uri} with {model.training_run or model.uri} on {backend.kind}")
    return await _apply(name, body, status, patch, generation, bp, current, outcome)


async def _follow(name: str, namespace: str, body: Any, status: Any, patch: kopf.Patch, generation: int | None,
                  bp: BatchPredictionSpec, project: MLProjectSpec | None, current: dict[str, Any], memo: Any) -> bool:
    lineage = current.get("lineage") or {}
    backend = _backend(memo, bp, project, current.get("backend"))
    job = _job(namespace, name, current["name"], bp, project, lineage.get("modelUri") or "", lineage.get("trainingRun"))
    if current.get("runId"):
        outcome = await backend.poll(job, current["runId"])
    else:
        outcome = await backend.submit(job)
    return await _apply(name, body, status, patch, generation, bp, current, outcome)


async def _apply(name: str, body: Any, status: Any, patch: kopf.Patch, generation: int | None,
                 bp: BatchPredictionSpec, current: dict[str, Any], outcome: Any) -> bool:
    scheduled = bp.schedule is not None
    lost = int(current.get("lost") or 0) + (1 if outcome.state == "Lost" else 0)
    verdict = rules.run_verdict(current["name"], outcome.state, outcome.message, outcome.error, outcome.result, lost)
    lineage = {**(current.get("lineage") or {})}
    if outcome.digest:
        lineage["pipelineDigest"] = outcome.digest
    if not verdict.finished:
        current = {**current, "lost": lost, "lineage": lineage, "phase": "Running",
                   "runId": None if verdict.retry else (outcome.run_id or current.get("runId"))}
        fields = {"current": {k: v for k, v in current.items() if v is not None},
                  "phase": rules.object_phase(scheduled, "Running"), "observedGeneration": generation,
                  # a scheduled one stays as Ready as its last run left it; a one-off is not Ready until done
                  "conditions": ready(status, scheduled and _ready_ok(status), verdict.reason, verdict.message,
                                      generation)}
        if not status.get("startTime"):
            fields["startTime"] = current.get("startTime")
        write_status(patch, status, fields)
        return False
    current = {**current, "runId": outcome.run_id or current.get("runId"), "lineage": lineage}
    _finish(name, body, status, patch, generation, bp, current["name"],
            None, current, verdict, outcome.result)
    return not scheduled


def _ready_ok(status: Any) -> bool:
    previous = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return previous.get("status") == "True"


def _finish(name: str, body: Any, status: Any, patch: kopf.Patch, generation: int | None, bp: BatchPredictionSpec,
            run: str, fire: float | None, current: dict[str, Any], verdict: rules.RunVerdict,
            result: dict[str, Any] | None) -> None:
    """Record a finished run: history, the latest outputs (when it succeeded), phase, condition, Event."""
    scheduled = bp.schedule is not None
    now = now_rfc3339()
    result = result or {}
    lineage = {k: v for k, v in {**(current.get("lineage") or {}), **(result.get("lineage") or {})}.items()
               if v is not None}
    entry = {"name": run, "phase": verdict.phase, "reason": verdict.reason, "message": verdict.message,
             "scheduledTime": current.get("scheduledTime") or (to_rfc3339(fire) if fire is not None else None),
             "startTime": current.get("startTime"), "completionTime": now,
             "rowsScored": result.get("rowsScored"), "rowsRejected": result.get("rowsRejected"),
             "output": result.get("output"), "lineage": lineage or None, "runId": current.get("runId"),
             "backend": current.get("backend")}
    entry = {k: v for k, v in entry.items() if v is not None}
    fields: dict[str, Any] = {
        "current": None,
        "lastRuns": rules.record(list(status.get("lastRuns") or []), entry, bp.history_limit),
        "phase": rules.object_phase(scheduled, verdict.phase),
        "observedGeneration": generation,
        "completionTime": now,
        "conditions": ready(status, verdict.phase == "Succeeded", verdict.reason, verdict.message, generation),
    }
    if fire is not None:
        fields["lastScheduledTime"] = to_rfc3339(fire)
    if lineage:
        fields["lineage"] = lineage
    if verdict.phase == "Succeeded":
        fields.update(rowsScored=result.get("rowsScored"), rowsRejected=result.get("rowsRejected"),
                      output=result.get("output"), summary=rules.summary_for_status(result.get("summary")))
    elif result.get("rowsRejected") is not None:
        fields.update(rowsScored=result.get("rowsScored"), rowsRejected=result.get("rowsRejected"))
    write_status(patch, status, fields)
    if verdict.event:
        type_, reason, message = verdict.event
        kopf.event(body, type=type_, reason=reason, message=message)


def _waiting(body: Any, status: Any, patch: kopf.Patch, generation: int | None, reason: str, message: str) -> None:
    """Nothing can run yet (no model version): Pending, with the reason as a condition and, once, an Event."""
    previous = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    write_status(patch, status, {"phase": status.get("phase") or "Pending", "observedGeneration": generation,
                                 "conditions": ready(status, False, reason, message, generation)})
    if (previous.get("reason"), previous.get("message")) != (reason, message):
        kopf.event(body, type="Warning", reason=reason, message=message)
