"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk), validated offline."""
from __future__ import annotations

import os
import tarfile
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from .paths import CHART_DIR, CRDS_DIR, NAMESPACE
from .rbac import all_rules, allows, effective_rules
from .render import by_kind, chart_crds, chart_notes, one, render_chart
from .scenarios import SCENARIOS
from .validate import InvalidObject, validate_all, validate_object

CRD_FILES = sorted(p.name for p in CRDS_DIR.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request):
    values = SCENARIOS[request.param]
    return request.param, values, render_chart(values)


def _container(objects):
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _env(objects) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in _container(objects)["env"]}


# --- lint and validation -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lint_is_clean(name):
    report = helm.lint(CHART_DIR, SCENARIOS[name], strict=True, kube_version="v1.30.0")
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert errors == [], errors


def test_every_rendered_object_validates(scenario):
    name, _, objects = scenario
    counts = validate_all(objects, chart_crds())
    assert sum(counts.values()) == len(objects) > 0, name


def test_validator_is_strict():
    """The validation above would catch a misplaced field: prove it on a broken Deployment."""
    deployment = one(render_chart(), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = "/x"
    with pytest.raises(InvalidObject, match="pathh"):
        validate_object(deployment)
    crd = chart_crds()[0]
    crd["spec"]["versions"][0]["schemaa"] = crd["spec"]["versions"][0].pop("schema")
    with pytest.raises(InvalidObject, match="schemaa"):
        validate_object(crd)
    crd = chart_crds()[0]
    crd["spec"]["versions"][0]["storage"] = False
    with pytest.raises(InvalidObject, match="storage version"):
        validate_object(crd)


# --- CRDs: single source --------------------------------------------------------------------------

def test_chart_crds_are_symlinks_to_the_generated_crds():
    chart_crd_dir = CHART_DIR / "crds"
    assert sorted(p.name for p in chart_crd_dir.iterdir()) == CRD_FILES
    for path in chart_crd_dir.iterdir():
        assert path.is_symlink(), f"{path} must be a symlink, not a second copy"
        assert os.readlink(path) == f"../../../crds/{path.name}"
        assert path.resolve() == (CRDS_DIR / path.name).resolve()


def test_sdk_loads_the_generated_crds_and_they_validate():
    loaded = chart_crds()
    expected = [yaml.safe_load((CRDS_DIR / f).read_text()) for f in CRD_FILES]
    key = lambda crd: crd["metadata"]["name"]  # noqa: E731
    assert sorted(loaded, key=key) == sorted(expected, key=key)
    assert validate_all(loaded) == {"kubernetes": len(CRD_FILES)}


def test_packaged_chart_carries_the_crd_contents(tmp_path: Path):
    archive = helm.package(CHART_DIR, destination=tmp_path)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        for name in CRD_FILES:
            member = members[f"mlops-operator/crds/{name}"]
            assert member.isfile(), "the archive must hold the file, not a dangling symlink"
            assert tar.extractfile(member).read() == (CRDS_DIR / name).read_bytes()
    with helm.Chart.load(archive) as packaged:
        assert len(packaged.crds) == len(CRD_FILES)


# --- Deployment ----------------------------------------------------------------------------------

def test_restricted_security_context(scenario):
    _, _, objects = scenario
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    sc = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    data_dir = _env(objects)["MLOPS_DATA_DIR"]
    assert "emptyDir" in volumes[mounts[data_dir]]


def test_probes_hit_kopf_liveness_endpoint(scenario):
    _, _, objects = scenario
    container = _container(objects)
    liveness_arg = next(a for a in container["args"] if a.startswith("--liveness="))
    assert liveness_arg == "--liveness=http://0.0.0.0:8080/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert ports[get["port"]] == 8080


def test_kopf_command_line_per_mode():
    default = _container(render_chart())["args"]
    assert default[0] == "run" and "--all-namespaces" in default and "--standalone" in default
    assert default[-2:] == ["-m", "mlops_operator.handlers"]

    namespaced = _container(render_chart(SCENARIOS["namespaced-2"]))["args"]
    assert "--namespace=team-a" in namespaced and "--namespace=team-b" in namespaced
    assert "--all-namespaces" not in namespaced

    peering = render_chart(SCENARIOS["peering-2-replicas"])
    assert "--peering=mlops" in _container(peering)["args"] and "--standalone" not in _container(peering)["args"]
    assert one(peering, "Deployment")["spec"]["replicas"] == 2

    custom = _container(render_chart({"operator": {"module": "my_handlers", "logLevel": "debug"}}))["args"]
    assert custom[-2:] == ["-m", "my_handlers"] and "--debug" in custom


def test_settings_reach_the_environment():
    env = _env(render_chart(SCENARIOS["kfp"]))
    assert env["MLOPS_TRAINING_BACKEND"] == "kfp"
    assert env["MLOPS_KFP_ENDPOINT"] == "http://ml-pipeline.kubeflow:8888"
    assert env["MLOPS_KFP_EXPERIMENT"] == "churn"
    assert env["MLOPS_KFP_NAMESPACE"] == "kubeflow"
    assert env["MLOPS_METRICS_PROVIDER"] == "prometheus"
    assert env["MLOPS_PROMETHEUS_URL"] == "http://prometheus-operated.monitoring:9090"
    for name in ("MLOPS_DATA_DIR", "MLOPS_COMPONENTS_IMAGE", "MLOPS_RECONCILE_INTERVAL", "MLOPS_ARTIFACT_ROOT"):
        assert name in env


def test_settings_env_names_match_settings_module():
    """Every MLOPS_* variable settings.py reads is set by the chart (and the chart sets no unknown one,
    apart from MLOPS_METRICS_PORT for the metrics server)."""
    import re

    from mlops_operator import settings

    read = set(re.findall(r'"(MLOPS_[A-Z0-9_]+)"', Path(settings.__file__).read_text()))
    chart = {n for n in _env(render_chart()) if n.startswith("MLOPS_")}
    assert read <= chart, read - chart
    assert chart - read <= {"MLOPS_METRICS_PORT"}, chart - read


def test_everything_scenario_passes_values_through():
    objects = render_chart(SCENARIOS["everything"])
    pod = one(objects, "Deployment")["spec"]["template"]
    assert _container(objects)["image"] == "ghcr.io/mlops-dev/mlops-operator@sha256:" + "ab" * 32
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["key"] == "ml"
    assert pod["metadata"]["annotations"] == {"example.com/team": "ml"}
    assert _env(objects)["HTTPS_PROXY"] == "http://proxy:3128"
    assert one(objects, "ConfigMap")["metadata"]["namespace"] == "monitoring"
    assert "--log-format=plain" in _container(objects)["args"]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"replicas": 2}, "requires peering"),
        ({"training": {"backend": "kfp"}}, "training.kfp.endpoint is required"),
        ({"training": {"backend": "spark"}}, "training.backend must be local or kfp"),
        ({"metrics": {"provider": "prometheus"}}, "metrics.prometheusUrl is required"),
        ({"operator": {"logLevel": "loud"}}, "operator.logLevel"),
        ({"admissionPolicy": {"enabled": True}}, "approvers"),
        ({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}}, "metrics.service.enabled"),
    ],
)
def test_bad_values_fail_with_a_clear_message(values, message):
    with pytest.raises(helm.HelmError, match=message):
        render_chart(values)


# --- RBAC ----------------------------------------------------------------------------------------

REQUIRED_EVERYWHERE = [
    ("list", "mlops.dev", "mlprojects", None),
    ("watch", "mlops.dev", "trainingruns", None),
    ("list", "mlops.dev", "modeldeployments", None),
    ("create", "mlops.dev", "trainingruns", None),
    ("get", "mlops.dev", "trainingruns", None),
    ("patch", "mlops.dev", "mlprojects", "status"),
    ("patch", "mlops.dev", "trainingruns", "status"),
    ("patch", "mlops.dev", "modeldeployments", "status"),
    ("list", "mlops.dev", "batchpredictions", None),
    ("watch", "mlops.dev", "batchpredictions", None),
    ("patch", "mlops.dev", "batchpredictions", "status"),
    ("create", "machinelearning.seldon.io", "seldondeployments", None),
    ("patch", "machinelearning.seldon.io", "seldondeployments", None),
    ("create", "", "events", None),
]
NEVER = [
    ("create", "mlops.dev", "mlprojects", None),
    ("delete", "mlops.dev", "trainingruns", None),
    ("update", "mlops.dev", "modeldeployments", None),
    ("patch", "mlops.dev", "modeldeployments", None),  # the operator never writes a user's spec or metadata
    ("patch", "mlops.dev", "mlprojects", None),
    ("patch", "mlops.dev", "batchpredictions", None),
    ("create", "mlops.dev", "batchpredictions", None),
    ("delete", "machinelearning.seldon.io", "seldondeployments", None),  # garbage-collected with the owner
    ("get", "", "secrets", None),
    ("create", "", "pods", None),
    ("delete", "", "events", None),
]


def test_no_wildcards_in_any_rule(scenario):
    name, _, objects = scenario
    for rule in all_rules(objects):
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), f"{name}: wildcard in {field}: {rule}"
            assert not any("*" in item for item in rule.get(field, [])), f"{name}: wildcard in {rule}"


def test_cluster_wide_rbac():
    rules = effective_rules(render_chart())
    for verb, group, resource, sub in REQUIRED_EVERYWHERE:
        assert allows(rules, verb, group, resource, sub), (verb, group, resource, sub)
    for verb, group, resource, sub in NEVER:
        assert not allows(rules, verb, group, resource, sub), (verb, group, resource, sub)
    assert allows(rules, "watch", "apiextensions.k8s.io", "customresourcedefinitions")
    assert not allows(rules, "list", "", "namespaces"), "kopf with --all-namespaces does not list namespaces"
    assert not allows(rules, "patch", "kopf.dev", "clusterkopfpeerings"), "standalone needs no peering"


def test_peering_rbac_per_mode():
    cluster = effective_rules(render_chart(SCENARIOS["peering-2-replicas"]))
    assert allows(cluster, "patch", "kopf.dev", "clusterkopfpeerings")
    assert not allows(cluster, "patch", "kopf.dev", "kopfpeerings")
    namespaced = render_chart(SCENARIOS["namespaced-peering"])
    assert allows(effective_rules(namespaced, namespace="team-a"), "patch", "kopf.dev", "kopfpeerings")
    assert not allows(effective_rules(namespaced), "patch", "kopf.dev", "clusterkopfpeerings")
    peerings = by_kind(namespaced, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    assert all(p["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade" for p in peerings)


def test_namespaced_mode_grants_only_the_watched_namespaces():
    objects = render_chart(SCENARIOS["namespaced-2"])
    roles = by_kind(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in by_kind(objects, "RoleBinding")) == ["team-a", "team-b"]
    cluster = effective_rules(objects)
    assert not allows(cluster, "list", "mlops.dev", "mlprojects"), "no cluster-wide access to our kinds"
    assert not allows(cluster, "list", "", "namespaces")
    assert allows(cluster, "list", "apiextensions.k8s.io", "customresourcedefinitions")
    for ns in ("team-a", "team-b"):
        rules = effective_rules(objects, namespace=ns)
        for verb, group, resource, sub in REQUIRED_EVERYWHERE:
            assert allows(rules, verb, group, resource, sub), (ns, verb, group, resource, sub)
    assert not allows(effective_rules(objects, namespace="default"), "list", "mlops.dev", "mlprojects")


def test_bindings_point_at_the_operator_service_account(scenario):
    _, _, objects = scenario
    sa = one(objects, "ServiceAccount")
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    for binding in by_kind(objects, "RoleBinding") + by_kind(objects, "ClusterRoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]


# --- metrics, alerts, dashboard ------------------------------------------------------------------

def test_metrics_service_and_service_monitor_line_up():
    objects = render_chart(SCENARIOS["monitoring"])
    service = one(objects, "Service")
    monitor = one(objects, "ServiceMonitor")
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels[k] == v for k, v in service["spec"]["selector"].items())
    assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert {p["name"] for p in _container(objects)["ports"]} == {"metrics", "healthz"}


def test_dashboard_is_valid_grafana_json():
    import json

    configmap = one(render_chart(SCENARIOS["monitoring"]), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["mlops-operator.json"])
    assert dashboard["uid"] == "mlops-operator"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert any("mlops_modeldeployment_rollbacks_total" in e for e in exprs)


def test_optional_objects_are_off_by_default():
    kinds = {o["kind"] for o in render_chart()}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap", "ValidatingAdmissionPolicy",
                        "CustomResourceDefinition", "ClusterKopfPeering", "KopfPeering"}


def test_notes_name_the_mode():
    assert "all namespaces" in chart_notes()
    assert "team-a, team-b" in chart_notes(SCENARIOS["namespaced-2"])
