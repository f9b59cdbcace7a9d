"""The chart's RBAC allows every API call the operator really makes, and nothing beyond.

The real operator runs against the embedded API, which records each distinct call in RBAC terms
(verb, group, resource, subresource) with the caller's User-Agent; the operator's calls are kopf's
and the operator's own client's (`mlops-operator/…`)."""
from __future__ import annotations

import pytest

from mlops_operator.kube import USER_AGENT
from tests.install.rbac import allows, grants, rendered_rules

from .harness import Kube, ThreadedDevCluster, error_lines, make_model, status

pytestmark = pytest.mark.e2e

#: Rules granted without being exercised here, each with the reason it is needed.
NEEDED_ELSEWHERE = {
    ("mlops.dev", "trainingruns", "get"): "reading back a TrainingRun whose create met 409 AlreadyExists "
                                          "(a retry, or a second replica)",
    ("machinelearning.seldon.io", "seldondeployments", "get"): "reading back a SeldonDeployment whose create met "
                                                               "409 (the watch index had not delivered it yet)",
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> set[tuple[str, str, str, str | None]]:
    """Drive the operator through training, failure, serving, an update and a batch scoring; return its calls."""
    models = tmp_path_factory.mktemp("models")
    v1, v2 = make_model(models / "v1"), make_model(models / "v2", flip=True)
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None) as cluster:
        kube = Kube(cluster.kubeconfig)
        kube.create("mlprojects", {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "p"},
                    "spec": {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target",
                                         "schema": {"columns": [{"name": "no-such-column", "type": "float"}]}},
                             "candidates": [{"name": "lr", "estimator": "LogisticRegression"}]}})
        kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                    "metadata": {"name": "d"}, "spec": {"model": {"uri": v1}}})
        kube.wait("modeldeployments", "d", lambda o: status(o).get("phase") == "Serving", 120, "v1 serving")
        kube.patch("modeldeployments", "d", {"spec": {"model": {"uri": v2}}})
        kube.wait("modeldeployments", "d", lambda o: (status(o).get("stable") or {}).get("uri") == v2
                  and status(o).get("phase") == "Serving", 120, "v2 serving")
        kube.create("batchpredictions", {"apiVersion": "mlops.dev/v1alpha1", "kind": "BatchPrediction",
                    "metadata": {"name": "b"}, "spec": {"model": {"uri": v1}, "input": {"uri": "sklearn:breast_cancer"}}})
        kube.wait("batchpredictions", "b", lambda o: status(o).get("phase") == "Succeeded", 300, "batch scored")
        kube.wait("trainingruns", "p-v1", lambda o: status(o).get("phase") == "Failed", 300, "run failed")
        kube.wait("mlprojects", "p", lambda o: status(o).get("phase") == "Degraded", 60, "project degraded")
        assert not error_lines(cluster.operator_log())
        for plural, name in (("mlprojects", "p"), ("trainingruns", "p-v1"), ("modeldeployments", "d"),
                             ("batchpredictions", "b")):
            assert not kube.get(plural, name)["metadata"].get("finalizers"), f"{plural}/{name} got a finalizer"
        calls = list(cluster.cluster.api.emulator.calls)
    return {(c.verb, c.group, c.resource, c.subresource) for c in calls
            if c.user_agent.startswith("kopf/") or c.user_agent == USER_AGENT}


def test_every_call_the_operator_makes_is_allowed(recorded):
    rules = rendered_rules()
    denied = sorted(c for c in recorded if not allows(rules, c[0], c[1], c[2], c[3]))
    assert not denied, f"the chart's ClusterRole denies {denied}"
    # The flows above did exercise the operator's own writes.
    assert ("create", "mlops.dev", "trainingruns", None) in recorded
    assert ("create", "machinelearning.seldon.io", "seldondeployments", None) in recorded
    assert ("patch", "machinelearning.seldon.io", "seldondeployments", None) in recorded
    assert ("patch", "mlops.dev", "batchpredictions", "status") in recorded


def test_nothing_is_granted_beyond_what_the_operator_uses(recorded):
    used = {(group, f"{resource}/{sub}" if sub else resource, verb) for verb, group, resource, sub in recorded}
    unused = sorted(g for g in grants(rendered_rules()) if g not in used and g not in NEEDED_ELSEWHERE)
    assert not unused, f"granted but never used, and no reason recorded: {unused}"
    for rule in rendered_rules():
        assert "*" not in rule.get("verbs", []) and "*" not in rule.get("resources", [])
