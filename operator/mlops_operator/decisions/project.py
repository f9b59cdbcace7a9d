"""What an MLProject should look like now: its champion, history, phase, and the runs to start.

The handler feeds in the project's TrainingRuns and ModelDeployments (from kopf indexes) and
writes back the plan: status fields and TrainingRun objects to create. Run names are derived from
what triggered them, so a retry or a second operator replica never makes a duplicate run.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ..api.common import API_VERSION, display_number, from_rfc3339, to_rfc3339
from ..api.mlproject import ChampionRef, HistoryEntry, MLProjectSpec, MLProjectStatus
from ..api.trainingrun import TERMINAL_PHASES
from .schedule import last_fire_time


@dataclass(frozen=True)
class RunSummary:
    """The part of a TrainingRun the project needs (kept in a kopf index)."""

    name: str
    phase: str | None
    dataset_version: str | None
    trigger: str
    created: str | None = None
    completed: str | None = None
    metric: str | None = None
    value: float | None = None
    model_uri: str | None = None
    episode: str | None = None  # drift runs: the drift episode they retrain for (annotation mlops.dev/drift-episode)

    @classmethod
    def from_object(cls, name: str, spec: dict[str, Any], status: dict[str, Any], meta: dict[str, Any]) -> "RunSummary":
        metric = status.get("metric") or {}
        lineage = status.get("lineage") or {}
        return cls(
            name=name,
            phase=status.get("phase"),
            dataset_version=lineage.get("datasetVersion") or spec.get("datasetVersion"),
            trigger=spec.get("trigger", "manual"),
            created=meta.get("creationTimestamp"),
            completed=status.get("completionTime"),
            metric=metric.get("name"),
            value=metric.get("value"),
            model_uri=(status.get("model") or {}).get("uri"),
            episode=(meta.get("annotations") or {}).get("mlops.dev/drift-episode")
            or (status.get("drift") or {}).get("episode"),
        )


@dataclass(frozen=True)
class ProjectPlan:
    status: MLProjectStatus
    create: tuple[dict[str, Any], ...] = ()
    events: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "x"


def run_name(project: str, kind: str, value: str) -> str:
    """Deterministic TrainingRun name for a trigger (kind 'v' = dataset version, 's' = schedule).

    A dataset version that is already a DNS label reads as itself (`churn-v3`); anything else gets
    a digest so that distinct values never share a name.
    """
    if kind == "v" and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value) and len(project) + len(value) < 60:
        return f"{project}-{value}"
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:5]
    return f"{_slug(project, 30)}-{kind}-{_slug(value, 16)}-{digest}"


def training_run(project: str, namespace: str, uid: str, name: str, version: str, trigger: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "TrainingRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"mlops.dev/project": project, "mlops.dev/trigger": trigger},
            "ownerReferences": [{
                "apiVersion": API_VERSION, "kind": "MLProject", "name": project, "uid": uid,
                "controller": True, "blockOwnerDeletion": False,
            }],
        },
        "spec": {"projectRef": {"name": project}, "datasetVersion": version, "trigger": trigger},
    }


def _order(run: RunSummary) -> tuple[str, str]:
    return (run.completed or run.created or "", run.name)


def plan_project(
    name: str,
    namespace: str,
    uid: str,
    spec: MLProjectSpec,
    status: MLProjectStatus,
    runs: list[RunSummary],
    serving_run: str | None,
    now: float,
) -> ProjectPlan:
    """Champion, history, phase, and which TrainingRuns to start (pure)."""
    st = status.model_copy(deep=True)
    create: list[dict[str, Any]] = []
    events: list[tuple[str, str, str]] = []
    known = {r.name for r in runs}
    active = [r for r in runs if r.phase not in TERMINAL_PHASES and r.phase != "AwaitingApproval"]
    may_start = spec.training.allow_concurrent_runs or not active

    version = spec.dataset.version
    if st.last_dataset_version != version:
        if any(r.dataset_version == version for r in runs):
            st.last_dataset_version = version  # already started (e.g. by another replica or by hand)
        elif may_start:
            new = run_name(name, "v", version)
            if new not in known:
                create.append(training_run(name, namespace, uid, new, version, "dataset-version"))
                events.append(("Normal", "TrainingStarted", f"dataset version {version}: TrainingRun {new}"))
            st.last_dataset_version = version
            may_start = spec.training.allow_concurrent_runs

    if spec.training.schedule:
        if st.last_scheduled_time is None:
            st.last_scheduled_time = to_rfc3339(now)  # schedules count from when they are first seen
        else:
            fire = last_fire_time(spec.training.schedule, from_rfc3339(st.last_scheduled_time), now)
            if fire is not None and may_start:
                new = run_name(name, "s", to_rfc3339(fire))
                if new not in known:
                    create.append(training_run(name, namespace, uid, new, version, "schedule"))
                    events.append(("Normal", "TrainingScheduled", f"schedule {spec.training.schedule}: TrainingRun {new}"))
                st.last_scheduled_time = to_rfc3339(fire)

    blessed = sorted((r for r in runs if r.phase == "Blessed"), key=_order)
    if blessed:
        best = blessed[-1]
        if st.champion is None or st.champion.training_run != best.name:
            events.append(("Normal", "NewChampion", f"{best.name}: {best.metric}={display_number(best.value)}"))
            st.champion = ChampionRef(training_run=best.name, model_uri=best.model_uri, metric=best.metric,
                                      value=best.value, display=display_number(best.value), since=best.completed)
        elif st.champion.display is None and st.champion.value is not None:  # recorded by an older version
            st.champion.display = display_number(st.champion.value)
    by_name = {r.name: r for r in runs}
    if serving_run and serving_run in by_name:
        r = by_name[serving_run]
        st.serving = ChampionRef(training_run=r.name, model_uri=r.model_uri, metric=r.metric, value=r.value,
                                 display=display_number(r.value))
    elif serving_run is None:
        st.serving = None

    finished = sorted((r for r in runs if r.phase in TERMINAL_PHASES), key=_order, reverse=True)
    st.history = [
        HistoryEntry(training_run=r.name, dataset_version=r.dataset_version, result=r.phase or "",
                     metric=r.metric, value=r.value, time=r.completed)
        for r in finished[: spec.training.history_limit]
    ]
    latest = max(runs, key=lambda r: (r.created or "", r.name), default=None)
    st.latest_run = latest.name if latest else st.latest_run
    if active or create:
        st.phase = "Training"
    elif latest is not None and latest.phase == "Failed":
        st.phase = "Degraded"
    else:
        st.phase = "Ready"
    return ProjectPlan(st, tuple(create), tuple(events))
