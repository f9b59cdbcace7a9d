"""The kustomize base and overlays: they build with kubectl, validate offline and grant what the chart grants."""
from __future__ import annotations

import shutil

import pytest
import yaml

from .generate import NAMESPACED_WATCH, stale_files
from .paths import CRDS_DIR, MANIFESTS_DIR, REPO_ROOT
from .rbac import all_rules, effective_rules, grants
from .render import by_kind, one, kustomize, render_chart
from .validate import validate_all

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl missing: `make debs` installs it")

TARGETS = {
    "base": MANIFESTS_DIR / "base",
    "namespaced": MANIFESTS_DIR / "overlays" / "namespaced",
    "dev": MANIFESTS_DIR / "overlays" / "dev",
}


@pytest.fixture(scope="module", params=sorted(TARGETS))
def built(request):
    return request.param, kustomize(TARGETS[request.param])


def _container(objects):
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _roles(objects) -> dict[tuple[str, str | None, str], set]:
    """(kind, namespace, name) -> granted triples, for every Role and ClusterRole."""
    return {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): grants(o.get("rules") or [])
        for o in objects if o["kind"] in ("Role", "ClusterRole")
    }


def test_generated_files_are_up_to_date():
    stale = [str(p.relative_to(REPO_ROOT)) for p in stale_files()]
    assert stale == [], f"run `.venv/bin/python -m tests.install.generate`: {stale}"


def test_crds_kustomization_lists_every_generated_crd():
    listed = yaml.safe_load((CRDS_DIR / "kustomization.yaml").read_text())["resources"]
    on_disk = {p.name for p in CRDS_DIR.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert sorted(listed) == sorted(on_disk)


def test_builds_and_validates(built):
    name, objects = built
    counts = validate_all(objects)
    assert sum(counts.values()) == len(objects)
    crds = sorted(o["metadata"]["name"] for o in by_kind(objects, "CustomResourceDefinition"))
    assert crds == ["batchpredictions.mlops.dev", "mlprojects.mlops.dev", "modeldeployments.mlops.dev",
                    "trainingruns.mlops.dev"], name
    assert one(objects, "Deployment")["metadata"]["namespace"] == "mlops-system"
    assert {o["metadata"]["name"] for o in by_kind(objects, "Namespace")} >= {"mlops-system"}


def test_no_wildcards(built):
    _, objects = built
    for rule in all_rules(objects):
        assert not any("*" in item for field in ("apiGroups", "resources", "verbs") for item in rule[field]), rule


def test_base_rbac_equals_chart_rbac():
    chart = render_chart({})
    base = kustomize(TARGETS["base"])
    assert _roles(base) == _roles(chart)
    assert grants(effective_rules(base)) == grants(effective_rules(chart))


def test_namespaced_overlay_rbac_equals_chart_rbac():
    chart = render_chart({"watchNamespaces": [NAMESPACED_WATCH]})
    overlay = kustomize(TARGETS["namespaced"])
    assert _roles(overlay) == _roles(chart)
    assert grants(effective_rules(overlay)) == grants(effective_rules(chart))
    assert grants(effective_rules(overlay, namespace=NAMESPACED_WATCH)) == grants(
        effective_rules(chart, namespace=NAMESPACED_WATCH))
    assert [r["metadata"]["namespace"] for r in by_kind(overlay, "Role")] == [NAMESPACED_WATCH]
    assert not any(o["metadata"]["name"] == "mlops-operator" for o in by_kind(overlay, "ClusterRole"))
    args = _container(overlay)["args"]
    assert f"--namespace={NAMESPACED_WATCH}" in args and "--all-namespaces" not in args


def test_base_deployment_is_the_chart_deployment():
    chart = one(render_chart({}), "Deployment")
    base = one(kustomize(TARGETS["base"]), "Deployment")
    assert base["spec"] == chart["spec"]


def test_dev_overlay():
    objects = kustomize(TARGETS["dev"])
    deployment = one(objects, "Deployment")
    container = _container(objects)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert deployment["spec"]["replicas"] == 1
    assert "--debug" in container["args"] and "--standalone" in container["args"]
    assert env["MLOPS_TRAINING_BACKEND"] == "local"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True, "dev keeps the restricted pod"
