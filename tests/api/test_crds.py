"""The CRDs are generated from the models, current, and structural (a real API server accepts them)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_operator.crdgen import KINDS, all_crds

ROOT = Path(__file__).resolve().parents[2]


def test_committed_crds_are_what_the_models_generate():
    for name, text in all_crds().items():
        committed = (ROOT / "crds" / name).read_text()
        assert committed == text, f"crds/{name} is stale: run `make crds` and commit"


def _walk(node: dict[str, Any], path: str):
    yield path, node
    for key, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


FORBIDDEN = {"$ref", "anyOf", "oneOf", "allOf", "not", "definitions", "$defs", "const", "title", "default"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural(kind):
    crd = yaml.safe_load((ROOT / "crds" / f"{kind.plural}.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema, kind.kind):
        preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
        assert node.get("type") or preserve, f"{path} has no type"
        assert not FORBIDDEN & node.keys(), f"{path} uses {FORBIDDEN & node.keys()}"
        if node.get("type") == "object" and not preserve and path != f"{kind.kind}.metadata":
            assert "properties" in node or isinstance(node.get("additionalProperties"), dict), (
                f"{path}: object without properties must preserve unknown fields"
            )
        if "exclusiveMinimum" in node or "exclusiveMaximum" in node:
            assert isinstance(node.get("exclusiveMinimum", True), bool)
            assert isinstance(node.get("exclusiveMaximum", True), bool)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crd_shape(kind):
    crd = yaml.safe_load((ROOT / "crds" / f"{kind.plural}.yaml").read_text())
    assert crd["metadata"]["name"] == f"{kind.plural}.mlops.dev"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["categories"] == ["mlops"]
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Phase", "Age"} <= columns
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert set(conditions["items"]["required"]) >= {"type", "status", "reason", "lastTransitionTime"}


def test_cel_rules_are_attached_where_cross_field_rules_live():
    md = yaml.safe_load((ROOT / "crds" / "modeldeployments.yaml").read_text())
    strategy = md["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["strategy"]
    canary_rules = [r["rule"] for r in strategy["properties"]["canary"]["x-kubernetes-validations"]]
    assert any("isSorted" in r for r in canary_rules)
    ab_rules = [r["rule"] for r in strategy["properties"]["abtest"]["x-kubernetes-validations"]]
    # unset weights take the models' defaults (50 each) instead of failing with "no such key"
    assert ab_rules == ["(has(self.stableWeight) ? self.stableWeight : 50)"
                        " + (has(self.candidateWeight) ? self.candidateWeight : 50) == 100"]


def test_readme_reference_is_what_the_models_generate():
    from mlops_operator.crdgen import reference_markdown

    assert reference_markdown() in (ROOT / "README.md").read_text(), "README reference is stale: run `make crds`"
