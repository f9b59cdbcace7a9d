"""Offline validation of rendered objects.

Built-in kinds: kubernetes-validate's strict schemas for one Kubernetes version (unknown fields fail).
Custom objects: the openAPIV3Schema of their CRD, made strict the way `kubectl apply --validate=strict` is.
prometheus-operator kinds: a hand-kept subset schema of the fields the chart uses (their CRDs are not vendored).
"""
from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate

KUBERNETES_VERSION = "1.30.0"

# The subset of monitoring.coreos.com/v1 the chart writes: enough to catch typos and misplaced fields.
_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
_META = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
PROMETHEUS_OPERATOR_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["selector", "endpoints"],
                "properties": {
                    "selector": {"type": "object"},
                    "namespaceSelector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}},
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["port"],
                            "properties": {
                                "port": {"type": "string"},
                                "path": {"type": "string"},
                                "interval": _DURATION,
                                "scrapeTimeout": _DURATION,
                            },
                        },
                    },
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["groups"],
                "properties": {
                    "groups": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name", "rules"],
                            "properties": {
                                "name": {"type": "string"},
                                "interval": _DURATION,
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["alert", "expr"],
                                        "properties": {
                                            "alert": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                                            "expr": {"type": "string", "minLength": 1},
                                            "for": _DURATION,
                                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


class InvalidObject(AssertionError):
    """An object that the API server would reject; the message names the object and the field."""


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def strict_json_schema(schema: dict[str, Any], *, root: bool = True) -> dict[str, Any]:
    """An OpenAPI v3 CRD schema as a JSON schema that rejects unknown fields (like strict field validation)."""
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool):  # OpenAPI 3.0's boolean form -> JSON Schema 2020-12's number
            if out.pop(bound) and limit in out:
                out[bound] = out.pop(limit)
    if "properties" in out:
        out["properties"] = {k: strict_json_schema(v, root=False) for k, v in out["properties"].items()}
        if root:
            for implicit in ("apiVersion", "kind"):
                out["properties"].setdefault(implicit, {"type": "string"})
            out["properties"].setdefault("metadata", {"type": "object"})
        if "additionalProperties" not in out and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict_json_schema(out["additionalProperties"], root=False)
    if isinstance(out.get("items"), dict):
        out["items"] = strict_json_schema(out["items"], root=False)
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in schema:
            out[combinator] = [strict_json_schema(s, root=False) for s in schema[combinator]]
    return out


def crd_schemas(crds: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every served version of every CRD."""
    schemas = {}
    for crd in crds:
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
            schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = strict_json_schema(schema)
    return schemas


def _check_crd(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    expected = f"{spec['names']['plural']}.{spec['group']}"
    if crd["metadata"]["name"] != expected:
        raise InvalidObject(f"{_name(crd)}: metadata.name must be {expected}")
    storage = [v["name"] for v in spec["versions"] if v.get("storage")]
    if len(storage) != 1:
        raise InvalidObject(f"{_name(crd)}: exactly one version must be the storage version, got {storage}")
    for version in spec["versions"]:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if not schema or schema.get("type") != "object":
            raise InvalidObject(f"{_name(crd)}: version {version['name']} needs a structural openAPIV3Schema of type object")


def validate_object(obj: dict[str, Any], crds: list[dict[str, Any]] = ()) -> str:
    """Validate one object; returns which schema was used. Raises InvalidObject with the failing field."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        raise InvalidObject(f"object without apiVersion/kind: {obj!r:.200}")
    custom = crd_schemas(list(crds))
    if (api_version, kind) in custom:
        try:
            jsonschema.Draft202012Validator(custom[(api_version, kind)]).validate(obj)
        except jsonschema.ValidationError as err:
            raise InvalidObject(f"{_name(obj)}: {'.'.join(map(str, err.path))}: {err.message}") from None
        return "crd"
    if api_version == "monitoring.coreos.com/v1" and kind in PROMETHEUS_OPERATOR_SCHEMAS:
        try:
            jsonschema.Draft202012Validator(PROMETHEUS_OPERATOR_SCHEMAS[kind]).validate(obj)
        except jsonschema.ValidationError as err:
            raise InvalidObject(f"{_name(obj)}: {'.'.join(map(str, err.path))}: {err.message}") from None
        return "prometheus-operator-subset"
    try:
        kubernetes_validate.validate(copy.deepcopy(obj), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        raise InvalidObject(f"{_name(obj)}: {'.'.join(map(str, err.path))}: {err.message}") from None
    except kubernetes_validate.SchemaNotFoundError as err:
        raise InvalidObject(f"{_name(obj)}: no schema known for it: {err.message}") from None
    if kind == "CustomResourceDefinition":
        _check_crd(obj)
    return "kubernetes"


def validate_all(objects: list[dict[str, Any]], crds: list[dict[str, Any]] = ()) -> dict[str, int]:
    """Validate every object (CRDs among them count as known schemas too); counts per schema source."""
    known = list(crds) + [o for o in objects if o.get("kind") == "CustomResourceDefinition"]
    counts: dict[str, int] = {}
    for obj in objects:
        source = validate_object(obj, known)
        counts[source] = counts.get(source, 0) + 1
    return counts
