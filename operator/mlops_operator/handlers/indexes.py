"""In-memory views kopf keeps current from watch events, so handlers read without API calls.

Every kopf handler of ours is a coroutine: kopf runs plain functions in its thread pool, a thread hop per
watch event (most of the operator's CPU at 1,000 objects), and waking a loop's asyncio.Event from a
thread is not safe. tests/api/test_reconcile_loop.py holds that none is a plain function."""
from __future__ import annotations

from typing import Any

import kopf

from ..api.common import GROUP, VERSION
from ..decisions.seldon import SELDON_GROUP, SELDON_VERSION
from ..decisions.project import RunSummary
from . import loop


BY_NAME, BY_PROJECT = "name", "project"  # the two kinds of key of `training_runs`


@kopf.index(GROUP, VERSION, "trainingruns")
async def training_runs(name: str, namespace: str, spec: Any, status: Any, meta: Any, **_) -> dict:
    """Each TrainingRun's summary under its name and under its project (one handler for both lookups: kopf
    calls every index handler on every watch event). Read with `run_named` and `runs_of_project`."""
    summary = RunSummary.from_object(name, dict(spec), dict(status), dict(meta))
    project = (spec.get("projectRef") or {}).get("name")
    return {(BY_NAME, namespace, name): summary, (BY_PROJECT, namespace, project): summary}


def run_named(training_runs: Any, namespace: str, name: str | None) -> RunSummary | None:
    return next(iter(training_runs.get((BY_NAME, namespace, name), [])), None) if name else None


def runs_of_project(training_runs: Any, namespace: str, project: str) -> list[RunSummary]:
    return list(training_runs.get((BY_PROJECT, namespace, project), []))


@kopf.index(GROUP, VERSION, "mlprojects")
async def projects(name: str, namespace: str, spec: Any, status: Any, **_) -> dict:
    return {(namespace, name): {"spec": dict(spec), "champion": dict(status.get("champion") or {}),
                                "datasetVersion": status.get("lastDatasetVersion")}}


@kopf.index(GROUP, VERSION, "modeldeployments")
async def deployments_by_project(name: str, namespace: str, spec: Any, status: Any, **_) -> dict:
    """Each ModelDeployment of a project with its stable predictor and the TrainingRun it serves: which
    version serves, and where the monitor's drift of it is."""
    project = (spec.get("projectRef") or {}).get("name")
    if not project:
        return {}
    stable = status.get("stable") or {}
    decision = status.get("lastDecision") or {}
    return {(namespace, project): {
        "name": name, "predictor": stable.get("predictor"), "trainingRun": stable.get("trainingRun"),
        "promotedAt": decision.get("time") if str(decision.get("action", "")).lower().startswith("promot") else None,
    }}


@kopf.index(SELDON_GROUP, SELDON_VERSION, "seldondeployments")
async def seldon_deployments(name: str, namespace: str, spec: Any, status: Any, **_) -> dict:
    """The SeldonDeployments (ours are named as their ModelDeployment): read without a GET per reconcile."""
    return {(namespace, name): {"metadata": {"name": name, "namespace": namespace},
                                "spec": dict(spec), "status": dict(status)}}


@kopf.on.event(SELDON_GROUP, SELDON_VERSION, "seldondeployments")
async def seldon_changed(type: str | None, namespace: str, name: str, status: Any, memo: Any, **_) -> None:
    """Seldon reported something new (e.g. a predictor crashed): its ModelDeployment's loop looks now, not at
    its interval. Only a new status, or the deletion, says something the deployment did not write itself."""
    reported = dict(status)
    if type == "DELETED" or memo.get(SELDON_STATUS_SEEN, {}) != reported:
        memo[SELDON_STATUS_SEEN] = reported
        loop.wake(memo, "modeldeployments", namespace, name)


#: In a SeldonDeployment's kopf memo: its status when its ModelDeployment was last woken.
SELDON_STATUS_SEEN = "status_seen_by_deployment"
