"""A finished pipeline's outcome becomes the run's phase, with approval when the project asks."""
from __future__ import annotations

from mlops_operator.api.mlproject import ApprovalPolicy
from mlops_operator.api.trainingrun import Approval
from mlops_operator.decisions.training import run_verdict

BLESSED = {"comparison": {"decision": "Blessed", "reason": "beats champion", "metric": "roc_auc",
                          "candidateValue": 0.97, "champion": "r1", "championValue": 0.95}}
REJECTED = {"comparison": {"decision": "Rejected", "reason": "worse than champion", "metric": "roc_auc",
                           "candidateValue": 0.81, "champion": "r1", "championValue": 0.95, "minimum": 0.8}}
NOW = "2026-01-01T00:00:00Z"


def test_running_and_failed():
    assert run_verdict("Running", "", {}, ApprovalPolicy(), None, NOW).phase == "Running"
    failed = run_verdict("Failed", "validate: column age out of range", {}, ApprovalPolicy(), None, NOW)
    assert failed.phase == "Failed" and failed.event == ("Warning", "PipelineFailed", "validate: column age out of range")
    retrying = run_verdict("Lost", "KFP unreachable", {}, ApprovalPolicy(), None, NOW, attempts=1)
    assert retrying.phase == "Running" and retrying.reason == "PipelineLost" and "attempt 2 of 3" in retrying.message
    gave_up = run_verdict("Lost", "KFP unreachable", {}, ApprovalPolicy(), None, NOW, attempts=3)
    assert gave_up.phase == "Failed" and gave_up.reason == "PipelineLost"


def test_rejected_names_both_numbers():
    v = run_verdict("Succeeded", "", REJECTED, ApprovalPolicy(), None, NOW)
    assert v.phase == "Rejected"
    assert "0.8100" in v.message and "r1=0.9500" in v.message and v.event[0] == "Warning"


def test_blessed_without_and_with_approval():
    assert run_verdict("Succeeded", "", BLESSED, ApprovalPolicy(), None, NOW).phase == "Blessed"
    policy = ApprovalPolicy(required=True, approvers=["alice"])
    waiting = run_verdict("Succeeded", "", BLESSED, policy, None, NOW)
    assert waiting.phase == "AwaitingApproval" and "alice" in waiting.message
    wrong = run_verdict("Succeeded", "", BLESSED, policy, Approval(approved_by="mallory"), NOW)
    assert wrong.phase == "AwaitingApproval" and wrong.reason == "NotAnApprover"
    ok = run_verdict("Succeeded", "", BLESSED, policy, Approval(approved_by="alice"), NOW)
    assert ok.phase == "Blessed" and ok.approval.approved_by == "alice" and ok.approval.approved_at == NOW


def test_success_without_comparison_is_a_failure_not_a_blessing():
    assert run_verdict("Succeeded", "", {}, ApprovalPolicy(), None, NOW).phase == "Failed"


def test_a_reason_that_states_the_numbers_is_not_repeated():
    first = {"comparison": {"decision": "Blessed", "metric": "roc_auc", "candidateValue": 0.9863731656184487,
                            "minimum": 0.9, "reason": "roc_auc 0.9864 passes (minimum 0.9); no champion to beat"}}
    v = run_verdict("Succeeded", "", first, ApprovalPolicy(), None, NOW)
    assert v.message == "roc_auc 0.9864 passes (minimum 0.9); no champion to beat" and v.event[2] == v.message
    versus = {"comparison": {"decision": "Rejected", "metric": "roc_auc", "candidateValue": 0.9112, "champion": "r1",
                             "championValue": 0.9534, "reason": "roc_auc 0.9112 vs champion 0.9534: improvement "
                                                                "-0.0422 is below the required 0"}}
    v = run_verdict("Succeeded", "", versus, ApprovalPolicy(), None, NOW)
    assert v.message == versus["comparison"]["reason"] + " (champion r1)"
