"""Legacy (non-aggregated) discovery documents: what kubectl and kopf read to find resources."""
from __future__ import annotations

from typing import Any

from .resources import ALL_VERBS, STATUS_VERBS, Registry

SERVER_VERSION = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-mlops-embedded", "gitCommit": "embedded",
    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group(name, versions) for name, versions in registry.group_versions().items() if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    served = [resource for resource in registry.all() if resource.group == group and resource.version == version]
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for resource in served:
        entry: dict[str, Any] = {"name": resource.plural, "singularName": resource.singular,
                                 "namespaced": resource.namespaced, "kind": resource.kind, "verbs": list(ALL_VERBS)}
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entries.append(entry)
        if resource.status_subresource:
            entries.append({"name": f"{resource.plural}/status", "singularName": "", "namespaced": resource.namespaced,
                            "kind": resource.kind, "verbs": list(STATUS_VERBS)})
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}


def root_paths(registry: Registry) -> dict[str, Any]:
    paths = {"/api", "/api/v1", "/apis", "/version", "/openapi/v3", "/healthz", "/readyz", "/livez"}
    for name, versions in registry.group_versions().items():
        if name:
            paths.add(f"/apis/{name}")
            paths.update(f"/apis/{name}/{version}" for version in versions)
    return {"paths": sorted(paths)}
