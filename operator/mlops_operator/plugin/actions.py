"""What each verb writes (pure): merge patches for promote/abort/pause/resume/approve, a TrainingRun for retrain.

The operator acts on each new value of `mlops.dev/promote` / `mlops.dev/abort` once, so every call
writes a fresh token (time in nanoseconds); nothing the plugin writes has to be cleaned up.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from ..api.modeldeployment import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from ..api.trainingrun import TERMINAL_PHASES
from ..decisions.project import run_name, training_run


def token(now_ns: int | None = None) -> str:
    """A fresh annotation value: never repeats, sorts by time."""
    return str(now_ns if now_ns is not None else time.time_ns())


def annotate(annotation: str, value: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {annotation: value}}}


def promote_patch(value: str) -> dict[str, Any]:
    return annotate(PROMOTE_ANNOTATION, value)


def abort_patch(value: str) -> dict[str, Any]:
    return annotate(ABORT_ANNOTATION, value)


def paused_patch(paused: bool) -> dict[str, Any]:
    return {"spec": {"paused": paused}}


def approve_patch(by: str, comment: str | None = None) -> dict[str, Any]:
    approval: dict[str, Any] = {"approvedBy": by}
    if comment:
        approval["comment"] = comment
    return {"spec": {"approval": approval}}


def check_approvable(run: dict[str, Any], by: str, project: dict[str, Any] | None) -> str | None:
    """Why approving makes no sense, or None: finished runs stay as they are; approvers are checked early."""
    phase = (run.get("status") or {}).get("phase")
    if phase in TERMINAL_PHASES:
        return f"trainingrun {run['metadata']['name']!r} is {phase}; only a run awaiting approval can be approved"
    approvers = (((project or {}).get("spec") or {}).get("approval") or {}).get("approvers") or []
    if approvers and by not in approvers:
        return f"{by!r} is not an approver of project {project['metadata']['name']!r} (approvers: {', '.join(approvers)})"
    return None


def unfinished_runs(project: str, runs: list[dict[str, Any]]) -> list[str]:
    return sorted(r["metadata"]["name"] for r in runs
                  if ((r.get("spec") or {}).get("projectRef") or {}).get("name") == project
                  and (r.get("status") or {}).get("phase") not in (*TERMINAL_PHASES, "AwaitingApproval"))


def retrain_run(project: dict[str, Any], now: float | None = None, dataset_version: str | None = None) -> dict[str, Any]:
    """A manual TrainingRun of the project, owned by it (deleted with it), named after the time it was asked for.

    The project planner counts every TrainingRun of the project (champion, history), whoever created it,
    so a run created here is the same as one the operator starts for a new dataset version.
    """
    meta = project["metadata"]
    when = datetime.fromtimestamp(now if now is not None else time.time(), timezone.utc).strftime("%Y%m%d-%H%M%S")
    version = dataset_version or project["spec"]["dataset"]["version"]
    name = run_name(meta["name"], "m", when)
    return training_run(meta["name"], meta.get("namespace") or "default", meta["uid"], name, version, "manual")
