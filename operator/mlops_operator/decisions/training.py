"""A TrainingRun's phase from its pipeline's outcome and the project's approval policy."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api.mlproject import ApprovalPolicy
from ..api.trainingrun import Approval, ApprovalRecord

#: Pipeline states from a training backend.
RUNNING_STATES = frozenset({"Pending", "Running"})
#: Times a lost pipeline (backend unreachable, runner gone) is submitted again before the run fails.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class RunVerdict:
    phase: str
    ready: bool
    reason: str
    message: str
    event: tuple[str, str, str] | None = None
    approval: ApprovalRecord | None = None


def _numbers(comparison: dict[str, Any]) -> str:
    text = f"{comparison.get('metric')}={comparison.get('candidateValue'):.4f}"
    if comparison.get("championValue") is not None:
        text += f" vs champion {comparison.get('champion')}={comparison['championValue']:.4f}"
    if comparison.get("minimum") is not None:
        text += f" (minimum {comparison['minimum']})"
    return text


def _describe(comparison: dict[str, Any]) -> str:
    """The gate's reason, with the numbers appended only when the reason does not already state them
    (it usually does: "roc_auc 0.9864 passes (minimum 0.9); no champion to beat")."""
    reason = comparison.get("reason") or ""
    numbers = [comparison.get("candidateValue"), comparison.get("championValue")]
    stated = all(f"{v:.4f}" in reason for v in numbers if isinstance(v, (int, float)))
    if not stated:
        return f"{reason}: {_numbers(comparison)}"
    champion = comparison.get("champion")
    if champion and comparison.get("championValue") is not None and champion not in reason:
        return f"{reason} (champion {champion})"
    return reason


def approval_verdict(policy: ApprovalPolicy, approval: Approval | None, now: str) -> RunVerdict:
    """Blessed once an allowed person approved; otherwise waiting, saying who may approve."""
    if approval is None:
        who = ", ".join(policy.approvers) or "an authorised user"
        return RunVerdict("AwaitingApproval", False, "AwaitingApproval",
                          f"blessed by the pipeline; {who} must set spec.approval.approvedBy",
                          ("Normal", "AwaitingApproval", "model blessed; waiting for approval"))
    if policy.approvers and approval.approved_by not in policy.approvers:
        return RunVerdict("AwaitingApproval", False, "NotAnApprover",
                          f"spec.approval.approvedBy: {approval.approved_by!r} is not in the project's approvers",
                          ("Warning", "NotAnApprover", f"{approval.approved_by} may not approve this model"))
    record = ApprovalRecord(approved_by=approval.approved_by, approved_at=now)
    return RunVerdict("Blessed", True, "Approved", f"approved by {approval.approved_by}",
                      ("Normal", "Approved", f"approved by {approval.approved_by}"), record)


def run_verdict(
    state: str, message: str, status: dict[str, Any], policy: ApprovalPolicy, approval: Approval | None, now: str,
    attempts: int = 1,
) -> RunVerdict:
    """Map a backend outcome (state, message, camelCase status fields) onto the run's phase.

    `attempts` counts submissions so far: a lost pipeline is submitted again (backends make that
    idempotent) until MAX_ATTEMPTS, then the run fails.
    """
    if state in RUNNING_STATES:
        return RunVerdict("Running", False, "PipelineRunning", message or f"pipeline {state.lower()}")
    if state == "Lost" and attempts < MAX_ATTEMPTS:
        text = f"{message}; submitting again (attempt {attempts + 1} of {MAX_ATTEMPTS})"
        return RunVerdict("Running", False, "PipelineLost", text, ("Warning", "PipelineLost", text))
    if state in ("Failed", "Lost"):
        reason = "PipelineFailed" if state == "Failed" else "PipelineLost"
        return RunVerdict("Failed", False, reason, message, ("Warning", reason, message))
    comparison = status.get("comparison") or {}
    decision = comparison.get("decision")
    if decision == "Rejected":
        text = _describe(comparison)
        return RunVerdict("Rejected", True, "Rejected", text, ("Warning", "Rejected", text))
    if decision != "Blessed":
        text = "pipeline succeeded without a comparison result"
        return RunVerdict("Failed", False, "NoComparison", text, ("Warning", "NoComparison", text))
    if policy.required:
        return approval_verdict(policy, approval, now)
    text = _describe(comparison)
    return RunVerdict("Blessed", True, "Blessed", text, ("Normal", "Blessed", text))
