"""Argo CD: Lua health checks run with lupa against Argo CD-format test cases; argocd-cm generated from
them; the Application/ApplicationSet point at the chart and render with their parameters."""
from __future__ import annotations

from collections import defaultdict

import helm_python as helm
import pytest
import yaml

from .lua_health import ARGOCD_HEALTH_STATES, health_cases, health_kinds, health_script, run_health
from .paths import ARGOCD_DIR, CHART_DIR, REPO_ROOT
from .render import chart_crds, render_chart
from .validate import validate_all, validate_object

KINDS = [("mlops.dev", "MLProject"), ("mlops.dev", "TrainingRun"), ("mlops.dev", "ModelDeployment"),
         ("mlops.dev", "BatchPrediction")]
# Health states each kind can be in (MLProject has nothing that waits for a person, so no Suspended).
STATES = {
    "MLProject": {"Healthy", "Progressing", "Degraded"},
    "TrainingRun": {"Healthy", "Progressing", "Degraded", "Suspended"},
    "ModelDeployment": {"Healthy", "Progressing", "Degraded", "Suspended"},
    "BatchPrediction": {"Healthy", "Progressing", "Degraded"},
}
CASES = [(group, kind, *case) for group, kind in KINDS for case in health_cases(group, kind)]


def test_layout_is_argocds_resource_customizations():
    assert health_kinds() == sorted(KINDS)
    for group, kind in KINDS:
        directory = ARGOCD_DIR / "health" / group / kind
        assert (directory / "health.lua").is_file() and (directory / "health_test.yaml").is_file()
        assert list((directory / "testdata").glob("*.yaml"))


@pytest.mark.parametrize("group, kind, input_path, obj, expected", CASES,
                         ids=[f"{c[1]}/{c[2]}" for c in CASES])
def test_health_case(group, kind, input_path, obj, expected):
    assert expected["status"] in ARGOCD_HEALTH_STATES
    assert run_health(health_script(group, kind), obj) == expected


@pytest.mark.parametrize("group, kind", KINDS)
def test_every_state_has_a_case(group, kind):
    seen = defaultdict(list)
    for input_path, _, expected in health_cases(group, kind):
        seen[expected["status"]].append(input_path)
    assert STATES[kind] <= set(seen), f"{kind}: no case for {STATES[kind] - set(seen)}"


@pytest.mark.parametrize("group, kind", KINDS)
def test_generation_lag_is_progressing_whatever_the_phase(group, kind):
    """status.observedGeneration < metadata.generation: the operator has not looked yet."""
    for _, obj, expected in health_cases(group, kind):
        if obj.get("status", {}).get("phase") is None:
            continue
        lagging = {**obj, "metadata": {**obj["metadata"], "generation": obj["status"]["observedGeneration"] + 1}}
        result = run_health(health_script(group, kind), lagging)
        assert result["status"] == "Progressing"
        assert result["message"].startswith("Waiting for the operator")


def test_testdata_are_valid_objects_of_our_crds():
    crds = chart_crds()
    for _, kind, input_path, obj, _ in CASES:
        assert validate_object(obj, crds) == "crd", f"{kind}/{input_path}"


def test_argocd_cm_holds_exactly_the_lua_files():
    configmap = yaml.safe_load((ARGOCD_DIR / "argocd-cm-health.yaml").read_text())
    assert configmap["metadata"]["name"] == "argocd-cm"
    expected = {f"resource.customizations.health.{g}_{k}": health_script(g, k) for g, k in KINDS}
    assert configmap["data"] == expected


def test_application_points_at_the_chart():
    app = yaml.safe_load((ARGOCD_DIR / "application.yaml").read_text())
    source = app["spec"]["source"]
    assert source["repoURL"] == "https://github.com/mlops-dev/mlops-operator.git"
    assert (REPO_ROOT / source["path"]) == CHART_DIR
    objects = render_chart(source["helm"]["valuesObject"], namespace=app["spec"]["destination"]["namespace"], exact=True)
    assert validate_all(objects, chart_crds())


def test_applicationset_elements_render():
    appset = yaml.safe_load((ARGOCD_DIR / "applicationset.yaml").read_text())
    template = appset["spec"]["template"]
    assert (REPO_ROOT / template["spec"]["source"]["path"]) == CHART_DIR
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert len(elements) >= 2
    for element in elements:
        sets = []
        for parameter in template["spec"]["source"]["helm"]["parameters"]:
            value = parameter["value"]
            for key, item in element.items():
                value = value.replace("{{ ." + key + " }}", item)
            sets.append(f"{parameter['name']}={value}")
        values = helm.parse_set_string(",".join(sets))
        if element["watchNamespaces"]:
            values["watchNamespaces"] = element["watchNamespaces"].split(",")
        objects = render_chart(values, exact=True)
        assert validate_all(objects, chart_crds()), element["name"]
