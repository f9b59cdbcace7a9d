"""Seldon Core's real SeldonDeployment CRD schema, made a strict JSON Schema for tests.

OpenAPI v3.0 structural schemas differ from JSON Schema in a few places: `nullable`, the
`x-kubernetes-*` extensions, and unknown fields (pruned by the API server, so for us an
error). The translation below makes every object with declared properties closed unless it
says x-kubernetes-preserve-unknown-fields.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[2]
PEER_CRD = REPO.parent / "shared" / "peer" / "seldon-core-v1.17.1" / "machinelearning.seldon.io_seldondeployments.yaml"


def to_strict_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [to_strict_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description", "format"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: to_strict_json_schema(v) for k, v in value.items()}
        else:
            out[key] = to_strict_json_schema(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=1)
def _peer_schema() -> dict[str, Any]:
    crd = yaml.safe_load(PEER_CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return to_strict_json_schema(version["schema"]["openAPIV3Schema"])


def peer_validator(part: str | None = None) -> Draft7Validator:
    """A validator for the whole object, or for `spec`/`status` only."""
    if not PEER_CRD.exists():
        pytest.skip(f"Seldon's CRD is not at {PEER_CRD} (shared/peer is missing)")
    schema = _peer_schema()
    if part:
        schema = schema["properties"][part]
    return Draft7Validator(schema)


def errors_of(validator: Draft7Validator, obj: Any) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj))
