"""What resources the API serves: built-ins kopf and kubectl need, plus whatever CRDs register."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/plural and everything the server needs to know about it."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    schema: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    custom: bool = False  # custom resources: generation, 415 on strategic merge patch, schema validation
    crd_name: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: objects are shared by all versions of one group/plural."""
        return (self.group, self.plural)

    @property
    def has_generation(self) -> bool:
        return self.custom or (self.group, self.plural) == ("apiextensions.k8s.io", "customresourcedefinitions")


def _builtin(group: str, version: str, plural: str, kind: str, namespaced: bool,
             short: tuple[str, ...] = (), categories: tuple[str, ...] = (), status: bool = False,
             columns: tuple[dict[str, Any], ...] = ()) -> ResourceType:
    return ResourceType(group=group, version=version, plural=plural, kind=kind, singular=kind.lower(),
                        namespaced=namespaced, short_names=short, categories=categories, status_subresource=status,
                        printer_columns=columns)


def _column(name: str, path: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "type": kind, "jsonPath": path}


_AGE = _column("Age", ".metadata.creationTimestamp", "date")
_EVENT_COLUMNS = (_column("Type", ".type"), _column("Reason", ".reason"), _column("Object", ".involvedObject.name"),
                  _column("Message", ".message"), _AGE)


BUILTINS: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", False, ("ns",), status=True,
             columns=(_column("Status", ".status.phase"), _AGE)),
    _builtin("", "v1", "events", "Event", True, ("ev",), columns=_EVENT_COLUMNS),
    _builtin("", "v1", "configmaps", "ConfigMap", True, ("cm",), ("all",)),
    _builtin("", "v1", "secrets", "Secret", True),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    _builtin("events.k8s.io", "v1", "events", "Event", True, ("ev",),
             columns=(_column("Type", ".type"), _column("Reason", ".reason"), _column("Object", ".regarding.name"),
                      _column("Note", ".note"), _AGE)),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease", True),
    _builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
             ("crd", "crds"), ("api-extensions",), status=True),
)

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")


class CRDError(ValueError):
    """A CRD the server cannot serve; the message names the field."""


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """Every served version of a CRD as a ResourceType (raises CRDError naming a missing field)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    for field_name, value in (("spec.group", spec.get("group")), ("spec.names.plural", names.get("plural")),
                              ("spec.names.kind", names.get("kind")), ("spec.versions", spec.get("versions"))):
        if not value:
            raise CRDError(f"{field_name}: Required value")
    scope = spec.get("scope", "Namespaced")
    if scope not in ("Namespaced", "Cluster"):
        raise CRDError(f'spec.scope: Unsupported value: "{scope}": supported values: "Cluster", "Namespaced"')
    result = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        result.append(ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"], kind=names["kind"],
            singular=names.get("singular") or names["kind"].lower(), namespaced=scope == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            status_subresource="status" in subresources,
            schema=((version.get("schema") or {}).get("openAPIV3Schema")),
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            custom=True, crd_name=(crd.get("metadata") or {}).get("name"),
        ))
    return result


@dataclass
class Registry:
    """The served resources, looked up by URL parts or by apiVersion+kind."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)

    @classmethod
    def with_builtins(cls) -> "Registry":
        registry = cls()
        for resource in BUILTINS:
            registry.add(resource)
        return registry

    def add(self, resource: ResourceType) -> None:
        self._types[(resource.group, resource.version, resource.plural)] = resource

    def register_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        self.unregister_crd((crd.get("metadata") or {}).get("name"))
        types = types_from_crd(crd)
        for resource in types:
            self.add(resource)
        return types

    def unregister_crd(self, crd_name: str | None) -> list[ResourceType]:
        gone = [resource for resource in self._types.values() if crd_name and resource.crd_name == crd_name]
        for resource in gone:
            del self._types[(resource.group, resource.version, resource.plural)]
        return gone

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for resource in self._types.values():
            if resource.group == group and resource.version == version and resource.kind == kind:
                return resource
        return None

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> its versions (in registration order), the core group as ''."""
        result: dict[str, list[str]] = {}
        for resource in self._types.values():
            versions = result.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        return result
