"""In-memory views kopf keeps current from watch events, so handlers read without API calls."""
from __future__ import annotations

from typing import Any

import kopf

from ..api.common import GROUP, VERSION
from ..decisions.seldon import SELDON_GROUP, SELDON_VERSION
from ..decisions.project import RunSummary
from . import loop


@kopf.index(GROUP, VERSION, "trainingruns")
def runs_by_project(name: str, namespace: str, spec: Any, status: Any, meta: Any, **_) -> dict:
    project = (spec.get("projectRef") or {}).get("name")
    return {(namespace, project): RunSummary.from_object(name, dict(spec), dict(status), dict(meta))}


@kopf.index(GROUP, VERSION, "trainingruns")
def runs_by_name(name: str, namespace: str, spec: Any, status: Any, meta: Any, **_) -> dict:
    return {(namespace, name): RunSummary.from_object(name, dict(spec), dict(status), dict(meta))}


@kopf.index(GROUP, VERSION, "mlprojects")
def projects(name: str, namespace: str, spec: Any, status: Any, **_) -> dict:
    return {(namespace, name): {"spec": dict(spec), "champion": dict(status.get("champion") or {}),
                                "datasetVersion": status.get("lastDatasetVersion")}}


@kopf.index(GROUP, VERSION, "modeldeployments")
def serving_by_project(namespace: str, spec: Any, status: Any, **_) -> dict:
    project = (spec.get("projectRef") or {}).get("name")
    if not project:
        return {}
    return {(namespace, project): (status.get("stable") or {}).get("trainingRun")}


@kopf.index(GROUP, VERSION, "modeldeployments")
def deployments_by_project(name: str, namespace: str, spec: Any, status: Any, **_) -> dict:
    """Each ModelDeployment of a project with its stable predictor: where the monitor's drift of it is."""
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
def seldon_deployments(name: str, namespace: str, spec: Any, status: Any, **_) -> dict:
    """The SeldonDeployments (ours are named as their ModelDeployment): read without a GET per reconcile."""
    return {(namespace, name): {"metadata": {"name": name, "namespace": namespace},
                                "spec": dict(spec), "status": dict(status)}}


@kopf.on.event(SELDON_GROUP, SELDON_VERSION, "seldondeployments")
def seldon_changed(namespace: str, name: str, memo: Any, **_) -> None:
    """A SeldonDeployment changed (e.g. a predictor crashed): its ModelDeployment's loop looks now, not at its interval."""
    loop.wake(memo, "modeldeployments", namespace, name)
