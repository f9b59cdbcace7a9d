"""The SeldonDeployment CRD the embedded dev cluster installs (ours, not Seldon's full one)."""
from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

CRD_FILE = "seldondeployment-crd.yaml"


def seldon_deployment_crd() -> dict[str, Any]:
    """The CustomResourceDefinition object, ready to create in the embedded API."""
    text = resources.files("mlops_operator.serving").joinpath(CRD_FILE).read_text()
    return yaml.safe_load(text)
