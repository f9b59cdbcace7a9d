"""OpenAPI v3 documents built from the served resources (CRD schemas), for kubectl's validation.

kubectl checks here whether the server supports the `fieldValidation` query parameter for a kind;
when it does, `kubectl apply` sends `fieldValidation=Strict` and the server rejects unknown fields.
It also reads which patch types a kind accepts: custom kinds list no strategic merge patch, so
kubectl sends a JSON merge patch for them, as with a real cluster.
"""
from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .resources import Registry, ResourceType

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True},
                     "description": "Ignore, Warn or Strict: how to treat unknown or duplicate fields."}
_DRY_RUN = {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
_FIELD_MANAGER = {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
_CUSTOM_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


def _definition_name(resource: ResourceType) -> str:
    reversed_group = ".".join(reversed(resource.group.split("."))) if resource.group else "io.k8s.api.core"
    return f"{reversed_group}.{resource.version}.{resource.kind}"


def _gvk(resource: ResourceType) -> dict[str, str]:
    return {"group": resource.group, "version": resource.version, "kind": resource.kind}


def _schema(resource: ResourceType) -> dict[str, Any]:
    schema = copy.deepcopy(resource.schema) if resource.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    properties = schema.setdefault("properties", {}) if resource.schema else {}
    if resource.schema:
        properties["apiVersion"] = {"type": "string"}
        properties["kind"] = {"type": "string"}
        properties["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{_OBJECT_META}"}], "default": {}}
    schema["x-kubernetes-group-version-kind"] = [_gvk(resource)]
    return schema


def _operation(resource: ResourceType, action: str, ref: str, params: list[dict[str, Any]],
               body_types: tuple[str, ...] = ()) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": ref}}}
    operation: dict[str, Any] = {
        "operationId": f"{action}{resource.kind}",
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": content}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(resource),
    }
    if body_types:
        operation["requestBody"] = {"content": {kind: {"schema": {"$ref": ref} if kind == "application/json"
                                                       else {"type": "object"}} for kind in body_types},
                                    "required": True}
    return operation


def _paths(resource: ResourceType) -> dict[str, Any]:
    base = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    prefix = f"{base}/namespaces/{{namespace}}/{resource.plural}" if resource.namespaced else f"{base}/{resource.plural}"
    ref = f"#/components/schemas/{_definition_name(resource)}"
    write_params = [_FIELD_VALIDATION, _DRY_RUN, _FIELD_MANAGER]
    # Strategic merge patches of built-ins are accepted (as merge patches), but not advertised here: kubectl
    # would then compute them from these schemas, which lack the built-ins' detail, instead of its own types.
    patch_types = _CUSTOM_PATCH_TYPES
    item = {
        "get": _operation(resource, "get", ref, []),
        "put": _operation(resource, "put", ref, write_params, ("application/json",)),
        "patch": _operation(resource, "patch", ref, write_params + [{"name": "force", "in": "query",
                                                                     "schema": {"type": "boolean"}}], patch_types),
        "delete": _operation(resource, "delete", ref, [_DRY_RUN]),
    }
    collection = {
        "get": _operation(resource, "list", ref, []),
        "post": _operation(resource, "post", ref, write_params, ("application/json",)),
    }
    paths = {prefix: collection, f"{prefix}/{{name}}": item}
    if resource.status_subresource:
        paths[f"{prefix}/{{name}}/status"] = {key: item[key] for key in ("get", "put", "patch")}
    return paths


def _object_meta() -> dict[str, Any]:
    string_map = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
    return {"type": "object", "properties": {
        "name": {"type": "string"}, "generateName": {"type": "string"}, "namespace": {"type": "string"},
        "labels": string_map, "annotations": string_map, "uid": {"type": "string"},
        "resourceVersion": {"type": "string"}, "generation": {"type": "integer", "format": "int64"},
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
        "finalizers": {"type": "array", "items": {"type": "string", "default": ""}},
        "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    }}


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    served = [resource for resource in registry.all() if resource.group == group and resource.version == version]
    if not served:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {_OBJECT_META: _object_meta()}
    for resource in served:
        paths.update(_paths(resource))
        schemas[_definition_name(resource)] = _schema(resource)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": schemas}}


def index_document(registry: Registry) -> dict[str, Any]:
    """The /openapi/v3 index: one entry per group/version, its URL carrying a content hash."""
    paths: dict[str, Any] = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            relative = f"apis/{group}/{version}" if group else f"api/{version}"
            document = group_version_document(registry, group, version)
            digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()
            paths[relative] = {"serverRelativeURL": f"/openapi/v3/{relative}?hash={digest}"}
    return {"paths": paths}
