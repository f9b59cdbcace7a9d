"""TrainingRun: submit the project's pipeline, follow it, and record the model version it produced."""
from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from ..api.common import GROUP, VERSION, now_rfc3339
from ..api.mlproject import MLProjectSpec
from ..api.trainingrun import TERMINAL_PHASES, TrainingRunSpec
from ..decisions import dataset_version
from ..decisions.training import approval_verdict, run_verdict
from ..training.backend import TrainingRequest
from ..telemetry import RUNS_COMPLETED
from . import loop
from .status import ready, reject_invalid, write_status
from .state import state


@kopf.daemon(GROUP, VERSION, "trainingruns", cancellation_timeout=30)
async def run_loop(**kwargs: Any) -> None:
    await loop.run(reconcile_run, kwargs, kind="TrainingRun", plural="trainingruns",
                   interval=state(kwargs["memo"]).settings.reconcile_interval)


async def reconcile_run(
    name: str, namespace: str, body: Any, spec: Any, status: Any, meta: Any, patch: kopf.Patch,
    projects: kopf.Index, memo: Any, **_: Any,
) -> bool:
    """One turn; True once the run is finished (Blessed, Rejected or Failed): its loop then ends."""
    generation = meta.get("generation")
    phase = status.get("phase")
    if phase in TERMINAL_PHASES:
        return True
    try:
        run = TrainingRunSpec.model_validate(dict(spec))
    except ValidationError as e:
        return reject_invalid(e, body, status, patch, generation)

    project_view = next(iter(projects.get((namespace, run.project_ref.name), [])), None)
    if project_view is None:
        return _wait(patch, status, generation, "ProjectNotFound",
                     f"spec.projectRef.name: MLProject {run.project_ref.name!r} not found in {namespace}")
    try:
        project = MLProjectSpec.model_validate(project_view["spec"])
    except ValidationError:
        return _wait(patch, status, generation, "ProjectInvalid",
                     f"spec.projectRef.name: MLProject {run.project_ref.name!r} has an invalid spec")

    version = run.dataset_version or project.dataset.version
    if version == dataset_version.LATEST:  # a run made by hand: the version the project resolved last
        version = project_view.get("datasetVersion")
        if not version:
            return _wait(patch, status, generation, "DatasetVersionUnresolved",
                         f"spec.datasetVersion: MLProject {run.project_ref.name!r} has not resolved its latest "
                         f"dataset version yet; set spec.datasetVersion or wait")
    if run.dataset is not None:  # a snapshot (e.g. live rows and labels for a drift retrain): same schema and target
        dataset = {"uri": run.dataset.uri, "format": run.dataset.format}
    else:  # the project's data at this run's version
        dataset = {"uri": dataset_version.concrete_uri(project.dataset.uri, version)}
    project = project.model_copy(update={"dataset": project.dataset.model_copy(update={**dataset, "version": version})})

    if phase == "AwaitingApproval":
        verdict = approval_verdict(project.approval, run.approval, now_rfc3339())
        return _record(body, patch, status, generation, verdict)

    pipeline = dict(status.get("pipeline") or {})
    lineage = dict(status.get("lineage") or {})
    if pipeline:  # submitted before: keep comparing with the champion of that time
        champion = {"trainingRun": lineage.get("parentChampion"), "modelUri": lineage.get("parentChampionUri")}
    else:
        champion = project_view["champion"]
    request = TrainingRequest(
        namespace=namespace,
        run_name=name,
        project=project,
        dataset_version=version,
        champion_run=champion.get("trainingRun"),
        champion_model_uri=champion.get("modelUri"),
    )
    settings = state(memo).settings
    backend = state(memo).backends.for_project(settings, project)
    if pipeline.get("runId"):
        outcome = await backend.poll(request, pipeline["runId"])
    else:
        outcome = await backend.submit(request)
        patch.status["startTime"] = status.get("startTime") or now_rfc3339()
        if outcome.run_id:
            kopf.event(body, type="Normal", reason="PipelineSubmitted",
                       message=f"run {outcome.run_id} on {project.training.backend or settings.training_backend}")

    attempts = int(pipeline.get("attempts") or 0) + (0 if pipeline.get("runId") else 1)
    fields = dict(outcome.status or {})
    fields.setdefault("pipeline", {})
    fields["pipeline"] = {**pipeline, **fields["pipeline"], "runId": outcome.run_id or pipeline.get("runId"),
                          "url": outcome.url or pipeline.get("url"), "state": outcome.state, "attempts": attempts}
    if outcome.state == "Lost":
        fields["pipeline"]["runId"] = None  # the next turn submits again; backends find the run if it exists
    fields["lineage"] = {**lineage, **(fields.get("lineage") or {}),
                         "parentChampion": request.champion_run, "parentChampionUri": request.champion_model_uri}
    write_status(patch, status, fields)

    verdict = run_verdict(outcome.state, outcome.message, fields, project.approval, run.approval, now_rfc3339(),
                          attempts)
    if verdict.phase != "Running":
        patch.status["completionTime"] = status.get("completionTime") or now_rfc3339()
    if verdict.phase in TERMINAL_PHASES:
        RUNS_COMPLETED.labels(namespace, run.project_ref.name, verdict.phase).inc()
    _record(body, patch, status, generation, verdict)
    return verdict.phase in TERMINAL_PHASES


def _wait(patch: kopf.Patch, status: Any, generation: int | None, reason: str, message: str) -> None:
    patch.status["phase"] = status.get("phase") or "Pending"
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = ready(status, False, reason, message, generation)


def _record(body: Any, patch: kopf.Patch, status: Any, generation: int | None, verdict: Any) -> None:
    previous = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    changed = (status.get("phase"), previous.get("reason")) != (verdict.phase, verdict.reason)
    patch.status["phase"] = verdict.phase
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = ready(status, verdict.ready, verdict.reason, verdict.message, generation)
    if verdict.approval is not None:
        patch.status["approval"] = verdict.approval.wire()
    if verdict.event and changed:
        type_, reason, message = verdict.event
        kopf.event(body, type=type_, reason=reason, message=message)
