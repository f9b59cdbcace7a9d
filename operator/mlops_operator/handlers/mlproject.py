"""MLProject: start TrainingRuns on new dataset versions and schedules; keep champion and history."""
from __future__ import annotations

import time
from typing import Any

import kopf
from pydantic import ValidationError

from ..api.common import API_VERSION, GROUP, VERSION, Condition, set_condition
from ..api.mlproject import MLProjectSpec, MLProjectStatus
from ..decisions.project import plan_project
from .. import kube
from ..telemetry import CHAMPION_METRIC
from . import loop
from .status import ready, reject_invalid, write_status
from .config import operator_settings


@kopf.on.event(GROUP, VERSION, "mlprojects")
def project_event(type: str | None, body: Any, memo: Any, **_: Any) -> None:
    loop.observe(type, body, memo)


@kopf.daemon(GROUP, VERSION, "mlprojects", cancellation_timeout=30)
async def project_loop(**kwargs: Any) -> None:
    await loop.run(reconcile_project, kind="MLProject", plural="mlprojects",
                   interval=operator_settings().reconcile_interval, **kwargs)


async def reconcile_project(
    name: str, namespace: str, body: Any, spec: Any, status: Any, meta: Any, patch: kopf.Patch,
    runs_by_project: kopf.Index, serving_by_project: kopf.Index, **_: Any,
) -> None:
    generation = meta.get("generation")
    try:
        project = MLProjectSpec.model_validate(dict(spec))
    except ValidationError as e:
        return reject_invalid(e, body, status, patch, generation)
    runs = list(runs_by_project.get((namespace, name), []))
    serving = next(iter(serving_by_project.get((namespace, name), [])), None)
    current = MLProjectStatus.model_validate(dict(status))
    plan = plan_project(name, namespace, meta["uid"], project, current, runs, serving, time.time())

    for obj in plan.create:
        await kube.create(API_VERSION, "trainingruns", namespace, obj)
    for type_, reason, message in plan.events:
        kopf.event(body, type=type_, reason=reason, message=message)

    new = plan.status.wire()
    new.pop("conditions", None)
    new.pop("kopf", None)
    champion = plan.status.champion
    if champion and champion.value is not None:
        CHAMPION_METRIC.labels(namespace, name, champion.metric or "").set(champion.value)
    message = (f"champion {champion.training_run} ({champion.metric}={champion.value})" if champion
               else "no blessed model yet")
    degraded = plan.status.phase == "Degraded"
    if degraded:
        message = f"the latest TrainingRun {plan.status.latest_run} failed; {message}"
    new["observedGeneration"] = generation
    conditions = ready(status, not degraded, plan.status.phase or "Ready", message, generation)
    if project.drift.enabled:  # accepted by the API, not acted on yet: say so rather than stay silent
        conditions = [c.wire() for c in set_condition(
            [Condition.model_validate(c) for c in conditions], "DriftMonitoring", "Unknown", "NotImplemented",
            "spec.drift is accepted but this operator version does not monitor drift yet", generation)]
    new["conditions"] = conditions
    new.setdefault("serving", None)
    new.setdefault("champion", None)
    write_status(patch, status, new)
