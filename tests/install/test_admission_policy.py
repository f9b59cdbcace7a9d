"""The optional ValidatingAdmissionPolicy, rendered by the chart and its CEL evaluated with `cel`
against admission requests the API server would send."""
from __future__ import annotations

from typing import Any

import cel
import pytest

from .render import one, render_chart

VALUES = {"admissionPolicy": {"enabled": True, "approvers": {"users": ["alice"], "groups": ["ml-leads"]}}}


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return one(render_chart(VALUES), "ValidatingAdmissionPolicy")


def admit(policy: dict[str, Any], operation: str, user: str, groups: list[str], new: dict, old: dict | None):
    """(allowed, messages) for one request, evaluating variables then validations like the API server."""
    user_info: dict[str, Any] = {"username": user}
    if groups:
        user_info["groups"] = groups
    context: dict[str, Any] = {
        "object": new,
        "oldObject": old,
        "request": {"operation": operation, "userInfo": user_info},
        "variables": {},
    }
    for variable in policy["spec"]["variables"]:
        context["variables"][variable["name"]] = cel.evaluate(variable["expression"], context)
    messages = [
        cel.evaluate(v["messageExpression"], context)
        for v in policy["spec"]["validations"]
        if cel.evaluate(v["expression"], context) is not True
    ]
    return not messages, messages


def run(approval: dict | None = None) -> dict:
    spec: dict[str, Any] = {"projectRef": {"name": "churn"}}
    if approval is not None:
        spec["approval"] = approval
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "churn-v2"}, "spec": spec}


def test_policy_matches_trainingruns_only(policy):
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules == [{"apiGroups": ["mlops.dev"], "apiVersions": ["v1alpha1"],
                      "operations": ["CREATE", "UPDATE"], "resources": ["trainingruns"]}]
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_approver_user_may_approve_in_own_name(policy):
    allowed, _ = admit(policy, "UPDATE", "alice", ["system:authenticated"], run({"approvedBy": "alice"}), run())
    assert allowed


def test_approver_group_member_may_approve(policy):
    allowed, _ = admit(policy, "UPDATE", "carol", ["ml-leads"], run({"approvedBy": "carol"}), run())
    assert allowed


def test_non_approver_is_refused(policy):
    allowed, messages = admit(policy, "UPDATE", "mallory", ["system:authenticated"],
                              run({"approvedBy": "mallory"}), run())
    assert not allowed
    assert "mallory is not an approver" in messages[0]


def test_approving_in_someone_elses_name_is_refused(policy):
    allowed, messages = admit(policy, "UPDATE", "alice", [], run({"approvedBy": "bob"}), run())
    assert not allowed
    assert messages == ["spec.approval.approvedBy must equal the requesting user alice"]


def test_creating_an_already_approved_run_needs_an_approver(policy):
    assert not admit(policy, "CREATE", "mallory", [], run({"approvedBy": "mallory"}), None)[0]
    assert admit(policy, "CREATE", "alice", [], run({"approvedBy": "alice"}), None)[0]


def test_changing_or_clearing_an_approval_needs_an_approver(policy):
    approved = run({"approvedBy": "alice"})
    assert not admit(policy, "UPDATE", "mallory", [], run(), approved)[0], "clearing"
    assert not admit(policy, "UPDATE", "mallory", [], run({"approvedBy": "alice", "comment": "x"}), approved)[0]
    assert admit(policy, "UPDATE", "alice", [], run(), approved)[0], "an approver may withdraw"


def test_untouched_approval_lets_anyone_else_through(policy):
    """The operator (and users editing other fields) update approved runs without being approvers."""
    approved = run({"approvedBy": "alice"})
    operator = "system:serviceaccount:mlops-system:mlops-operator"
    changed = run({"approvedBy": "alice"})
    changed["metadata"]["annotations"] = {"note": "x"}
    assert admit(policy, "UPDATE", operator, ["system:serviceaccounts"], changed, approved)[0]
    assert admit(policy, "CREATE", "mallory", [], run(), None)[0], "runs without approval are anyone's"


def test_binding_targets_the_policy_and_watched_namespaces():
    objects = render_chart({**VALUES, "watchNamespaces": ["team-a"]})
    binding = one(objects, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == one(objects, "ValidatingAdmissionPolicy")["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    expression = binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]
    assert expression == {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a"]}
