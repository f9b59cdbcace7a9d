"""The chart's monitor (monitor.enabled=true): rendered and linted by Helm's engine, validated strictly."""
from __future__ import annotations

import helm_python as helm
import pytest

from tests.install.paths import CHART_DIR
from tests.install.render import by_kind, chart_crds, one, render_chart
from tests.install.validate import validate_all

VALUES = {"monitor": {"enabled": True}}
NAME = "mlops-operator-monitor"


@pytest.fixture(scope="module")
def objects():
    return render_chart(VALUES)


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_lint_and_strict_validation(objects):
    report = helm.lint(CHART_DIR, VALUES, strict=True, kube_version="v1.30.0")
    assert [m for m in report["messages"] if m["severity"] >= 2] + report["errors"] == []
    assert sum(validate_all(objects, chart_crds()).values()) == len(objects)


def test_disabled_by_default_renders_nothing_of_it():
    assert not [o for o in render_chart() if "monitor" in o["metadata"]["name"]]


def test_monitor_runs_with_its_volume_token_and_ports(objects):
    dep = one(objects, "Deployment", NAME)
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "mlops_operator.monitor"]
    assert "--token-file=/var/run/mlops-monitor/token" in container["args"]
    assert "--log-port=8081" in container["args"] and "--port=8080" in container["args"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == NAME
    assert volumes["token"]["secret"]["secretName"] == f"{NAME}-token"
    assert one(objects, "PersistentVolumeClaim", NAME)["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # no Kubernetes API access: no token mounted, no binding to its ServiceAccount
    assert pod["automountServiceAccountToken"] is False
    for binding in by_kind(objects, "RoleBinding") + by_kind(objects, "ClusterRoleBinding"):
        assert all(s["name"] != NAME for s in binding["subjects"])


def test_operator_and_its_service_never_select_monitor_pods(objects):
    monitor_labels = one(objects, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"]
    operator = one(objects, "Deployment", "mlops-operator")
    assert not _matches(operator["spec"]["selector"]["matchLabels"], monitor_labels)
    assert not _matches(one(objects, "Service", "mlops-operator-metrics")["spec"]["selector"], monitor_labels)
    assert _matches(one(objects, "Service", NAME)["spec"]["selector"], monitor_labels)


def test_operator_knows_the_monitor_address_and_token(objects):
    pod = one(objects, "Deployment", "mlops-operator")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["MLOPS_MONITOR_URL"] == f"http://{NAME}.mlops-system.svc:8080"
    assert env["MLOPS_MONITOR_LOG_URL"] == f"http://{NAME}.mlops-system.svc:8081/log"
    assert env["MLOPS_MONITOR_TOKEN_FILE"] == "/var/run/mlops-monitor/token"
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["monitor-token"] == "/var/run/mlops-monitor"


def test_network_policy_lets_only_serving_pods_reach_the_log_port(objects):
    policy = one(objects, "NetworkPolicy", NAME)["spec"]
    assert _matches(policy["podSelector"]["matchLabels"], one(objects, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"])
    log_rules = [r for r in policy["ingress"] if any(p["port"] == "log" for p in r["ports"])]
    assert len(log_rules) == 1 and log_rules[0]["from"] == [{
        "namespaceSelector": {},
        "podSelector": {"matchExpressions": [{"key": "seldon-deployment-id", "operator": "Exists"}]},
    }]
    api_rules = [r for r in policy["ingress"] if any(p["port"] == "api" for p in r["ports"])]
    assert all(all(p["port"] == "api" for p in r["ports"]) for r in api_rules)  # no rule opens both


def test_existing_secret_is_used_instead_of_a_generated_one():
    objects = render_chart({"monitor": {"enabled": True, "token": {"existingSecret": "labels-token"}}})
    assert not by_kind(objects, "Secret")
    volumes = one(objects, "Deployment", NAME)["spec"]["template"]["spec"]["volumes"]
    assert {"name": "token", "secret": {"secretName": "labels-token", "items": [{"key": "token", "path": "token"}]}} in volumes
