"""In-memory views kopf keeps current from watch events, so handlers read without API calls.

Every kopf handler of ours is a coroutine: kopf runs plain functions in its thread pool, a thread hop per
watch event (most of the operator's CPU at 1,000 objects), and waking a loop's asyncio.Event from a
thread is not safe. tests/api/test_reconcile_loop.py holds that none is a plain function.

The index handlers also carry each watch event to the object's reconcile loop (`loop.observe`) and wake
the loops of related objects: kopf runs every handler of a kind on every watch event at a fixed cost
each (its handler state, keyword arguments, outcome), and these handlers run anyway. A DELETED event
never reaches them (kopf drops the object's index entries), so each kind also has an `on.event` handler
filtered to deletions."""
from __future__ import annotations

from typing import Any

import kopf

from ..api.common import GROUP, VERSION
from ..decisions.seldon import SELDON_GROUP, SELDON_VERSION
from ..decisions.project import RunSummary
from . import loop


BY_NAME, BY_PROJECT = "name", "project"  # the two kinds of key of `training_runs`


def deleted(type: str | None, **_: Any) -> bool:
    """The filter of the deletion handlers: every other event reaches the loops through the index handlers."""
    return type == "DELETED"


@kopf.index(GROUP, VERSION, "trainingruns")
async def training_runs(name: str, namespace: str, body: Any, spec: Any, status: Any, meta: Any, memo: Any,
                        **_) -> dict:
    """Each TrainingRun's summary under its name and under its project (one handler for both lookups: kopf
    calls every index handler on every watch event). Read with `run_named` and `runs_of_project`."""
    run_news(None, body, namespace, memo)
    summary = RunSummary.from_object(name, dict(spec), dict(status), dict(meta))
    project = (spec.get("projectRef") or {}).get("name")
    return {(BY_NAME, namespace, name): summary, (BY_PROJECT, namespace, project): summary}


def run_named(training_runs: Any, namespace: str, name: str | None) -> RunSummary | None:
    return next(iter(training_runs.get((BY_NAME, namespace, name), [])), None) if name else None


def runs_of_project(training_runs: Any, namespace: str, project: str) -> list[RunSummary]:
    return list(training_runs.get((BY_PROJECT, namespace, project), []))


@kopf.index(GROUP, VERSION, "mlprojects")
async def projects(name: str, namespace: str, body: Any, spec: Any, status: Any, memo: Any, **_) -> dict:
    loop.observe(None, body, memo)
    return {(namespace, name): {"spec": dict(spec), "champion": dict(status.get("champion") or {}),
                                "datasetVersion": status.get("lastDatasetVersion")}}


@kopf.index(GROUP, VERSION, "modeldeployments")
async def deployments_by_project(name: str, namespace: str, body: Any, spec: Any, status: Any, memo: Any,
                                 **_) -> dict:
    """Each ModelDeployment of a project with its stable predictor and the TrainingRun it serves: which
    version serves, and where the monitor's drift of it is."""
    loop.observe(None, body, memo)
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
async def seldon_deployments(name: str, namespace: str, spec: Any, status: Any, memo: Any, **_) -> dict:
    """The SeldonDeployments (ours are named as their ModelDeployment): read without a GET per reconcile."""
    seldon_news(None, namespace, name, status, memo)
    return {(namespace, name): {"metadata": {"name": name, "namespace": namespace},
                                "spec": dict(spec), "status": dict(status)}}


@kopf.on.event(SELDON_GROUP, SELDON_VERSION, "seldondeployments", when=deleted)
async def seldon_deleted(type: str, namespace: str, name: str, status: Any, memo: Any, **_) -> None:
    seldon_news(type, namespace, name, status, memo)


def seldon_news(type: str | None, namespace: str, name: str, status: Any, memo: Any) -> None:
    """Seldon reported something new (e.g. a predictor crashed): its ModelDeployment's loop looks now, not at
    its interval. Only a new status, or the deletion, says something the deployment did not write itself."""
    reported = dict(status)
    if type == "DELETED" or memo.get(SELDON_STATUS_SEEN, {}) != reported:
        memo[SELDON_STATUS_SEEN] = reported
        loop.wake(memo, "modeldeployments", namespace, name)


#: In a SeldonDeployment's kopf memo: its status when its ModelDeployment was last woken.
SELDON_STATUS_SEEN = "status_seen_by_deployment"


@kopf.on.event(GROUP, VERSION, "trainingruns", when=deleted)
async def run_deleted(type: str, body: Any, namespace: str, memo: Any, **_) -> None:
    run_news(type, body, namespace, memo)


def run_news(type: str | None, body: Any, namespace: str, memo: Any) -> None:
    """A TrainingRun's event for its own loop; and its project's status (latest run, champion) follows its
    runs' phases now, not at its interval."""
    loop.observe(type, body, memo)
    project = ((body.get("spec") or {}).get("projectRef") or {}).get("name")
    phase = (body.get("status") or {}).get("phase")
    if project and (type == "DELETED" or memo.get(PHASE_SEEN) != phase):
        memo[PHASE_SEEN] = phase
        loop.wake(memo, "mlprojects", namespace, project)


#: In a TrainingRun's kopf memo: its phase when its project was last woken.
PHASE_SEEN = "phase_seen_by_project"
