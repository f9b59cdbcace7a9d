"""`kubectl explain` describes every spec field: each field of each kind's spec, the spec itself included,
carries a description in the generated CRD (the descriptions come from the pydantic models)."""
from __future__ import annotations

import pytest

from mlops_operator.crdgen import all_crds
import yaml


def undescribed(schema: dict, path: str = "spec") -> list[str]:
    missing = [] if schema.get("description") else [path]
    for name, child in (schema.get("properties") or {}).items():
        missing += undescribed(child, f"{path}.{name}")
    items = schema.get("items")
    if isinstance(items, dict) and items.get("properties"):
        for name, child in items["properties"].items():
            missing += undescribed(child, f"{path}[].{name}")
    return missing


@pytest.mark.parametrize("crd", ["mlprojects.yaml", "trainingruns.yaml", "modeldeployments.yaml",
                                 "batchpredictions.yaml"])
def test_every_spec_field_is_described(crd):
    document = yaml.safe_load(all_crds()[crd])
    spec = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert undescribed(spec) == []
