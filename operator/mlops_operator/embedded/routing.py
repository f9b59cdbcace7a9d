"""Parse API server URLs into what they address (discovery, openapi, or a resource path)."""
from __future__ import annotations

from dataclasses import dataclass

_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class ResourcePath:
    """`/api[s]/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]]`."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


@dataclass(frozen=True)
class Route:
    """What a URL addresses: `kind` is root/version/api/apis/group/resources/openapi-index/openapi/health/resource."""

    kind: str
    group: str = ""
    version: str = ""
    resource: ResourcePath | None = None


def parse(path: str) -> Route | None:
    """None when the URL addresses nothing the API serves."""
    parts = [part for part in path.split("/") if part]
    if not parts:
        return Route("root")
    head = parts[0]
    if head == "version" and len(parts) == 1:
        return Route("version")
    if head in ("healthz", "readyz", "livez"):
        return Route("health")
    if head == "openapi" and parts[1:2] == ["v3"]:
        rest = parts[2:]
        if not rest:
            return Route("openapi-index")
        if rest[0] == "api" and len(rest) == 2:
            return Route("openapi", "", rest[1])
        if rest[0] == "apis" and len(rest) == 3:
            return Route("openapi", rest[1], rest[2])
        return None
    if head == "api":
        if len(parts) == 1:
            return Route("api")
        group, version, rest = "", parts[1], parts[2:]
    elif head == "apis":
        if len(parts) == 1:
            return Route("apis")
        if len(parts) == 2:
            return Route("group", parts[1])
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return Route("resources", group, version)
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    return Route("resource", group, version, ResourcePath(group, version, plural, namespace, name, subresource))
