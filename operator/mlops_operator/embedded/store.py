"""The object store: Kubernetes write semantics over plain dicts, plus the bounded watch-event log.

Single-threaded by design: every method runs to completion on the server's event loop without
awaiting, so each write is atomic. Stored dicts are never mutated after they are stored (every
write stores a new dict), so watch events and responses can share them safely, and share their
JSON too: a change is encoded once for the write's answer and all its watchers (WatchEvent.object_json).
"""
from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import functools
import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .patches import PatchError, json_patch, merge_patch
from .resources import CRD_KEY, NAMESPACE_KEY, CRDError, Registry, ResourceType
from .schema import check_object
from .selectors import field_matcher, label_matcher

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_OWNED_METADATA = ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "resourceVersion", "name", "namespace")
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: Any) -> bytes:
    """`json.dumps(value, separators=(",", ":")).encode()`, without building an encoder per call."""
    return _COMPACT.encode(value).encode()


@dataclass(frozen=True)
class WatchEvent:
    """One change: `old` is the previous state (to tell selector leavers), `obj` the new one."""

    rv: int
    key: tuple[str, str]
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None
    _encoded: dict[str, bytes] = field(default_factory=dict, init=False, compare=False, repr=False)

    def object_json(self, api_version: str) -> bytes:
        """`obj` as JSON in `api_version`, encoded once for the write's response and every watcher
        (stored objects are immutable, see the module docstring)."""
        encoded = self._encoded.get(api_version)
        if encoded is None:
            obj = self.obj if self.obj.get("apiVersion") == api_version else {**self.obj, "apiVersion": api_version}
            encoded = self._encoded[api_version] = compact_json(obj)
        return encoded

    def line(self, kind: str, api_version: str) -> bytes:
        """This change as a watch-stream line: `{"type":kind,"object":obj}` as json.dumps writes it."""
        return b'{"type":' + json.dumps(kind).encode() + b',"object":' + self.object_json(api_version) + b"}\n"


def _now() -> str:
    return _timestamp(int(time.time()))


@functools.lru_cache(maxsize=1)
def _timestamp(seconds: int) -> str:
    """RFC 3339 UTC to the second, formatted once per second (strftime per write showed in profiles)."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _content(obj: dict[str, Any], without_status: bool) -> dict[str, Any]:
    """What generation tracks: everything but metadata (and status when it is a subresource)."""
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if without_status else set())
    return {key: value for key, value in obj.items() if key not in skip}


def _without_directives(patch: Any) -> Any:
    """A strategic merge patch minus its `$setElementOrder/...`-style directives, to apply as a merge patch."""
    if isinstance(patch, dict):
        return {key: _without_directives(value) for key, value in patch.items() if not key.startswith("$")}
    return patch


class ObjectStore:
    """All objects of all resources, with resourceVersion, generation, finalizers and events."""

    def __init__(self, registry: Registry, history: int = 10_000, clock: Callable[[], str] = _now) -> None:
        self.registry = registry
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)
        self._rv = 0
        self._log: collections.deque[WatchEvent] = collections.deque(maxlen=history)
        #: Watch queues by the resource key they follow (None: every change); an event wakes only its own.
        self._watchers: dict[tuple[str, str] | None, set[asyncio.Queue[WatchEvent | None]]] = {}
        self._clock = clock
        self._history_started = 0  # events at or below this rv may have been evicted from the log

    # -- reading ------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects[resource.key].get((namespace or "", name))
        if obj is None:
            raise errors.not_found(resource.group, resource.plural, name)
        return self._present(resource, obj)

    def find(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        obj = self._objects[resource.key].get((namespace or "", name))
        return None if obj is None else self._present(resource, obj)

    def list(self, resource: ResourceType, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None) -> list[dict[str, Any]]:
        labels, fields = label_matcher(label_selector), field_matcher(field_selector)
        found = [obj for (ns, _), obj in sorted(self._objects[resource.key].items())
                 if namespace is None or ns == namespace]
        return [self._present(resource, obj) for obj in found if labels(obj) and fields(obj)]

    def count(self) -> int:
        return sum(len(objects) for objects in self._objects.values())

    def _present(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Objects are stored once per group/plural; show them in the requested version."""
        if obj.get("apiVersion") == resource.api_version:
            return obj
        return {**obj, "apiVersion": resource.api_version}

    # -- watching -----------------------------------------------------------------------------

    def subscribe(self, key: tuple[str, str] | None = None) -> asyncio.Queue[WatchEvent | None]:
        """A queue of the changes of one resource (by `ResourceType.key`), or of all when `key` is None."""
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self._watchers.setdefault(key, set()).add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[WatchEvent | None]) -> None:
        for queues in self._watchers.values():
            queues.discard(queue)

    @property
    def watch_count(self) -> int:
        """Open watch streams."""
        return sum(len(queues) for queues in self._watchers.values())

    def close_watches(self) -> None:
        """End every open watch (at shutdown): each watcher receives None."""
        for queues in list(self._watchers.values()):
            for queue in list(queues):
                queue.put_nowait(None)

    def encode(self, obj: dict[str, Any]) -> bytes:
        """`obj` as compact JSON; the object of the latest change (what a write answers) is encoded once
        for its response and its watchers."""
        latest = self._log[-1] if self._log else None
        if latest is not None and latest.obj is obj and isinstance(obj.get("apiVersion"), str):
            return latest.object_json(obj["apiVersion"])
        return compact_json(obj)

    def events_since(self, resource_version: int) -> list[WatchEvent]:
        """Events after `resource_version`; 410 Gone if some of them were already evicted."""
        if resource_version < self._history_started:
            raise errors.gone(f"too old resource version: {resource_version} ({self._history_started + 1})")
        return [event for event in self._log if event.rv > resource_version]

    def _emit(self, event: WatchEvent) -> None:
        if len(self._log) == self._log.maxlen:
            self._history_started = self._log[0].rv
        self._log.append(event)
        for key in (event.key, None):
            for queue in self._watchers.get(key, ()):
                queue.put_nowait(event)

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    # -- writing ------------------------------------------------------------------------------

    def create(self, resource: ResourceType, namespace: str | None, body: dict[str, Any], *,
               dry_run: bool = False, strict: bool = False) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        namespace = self._namespace_for(resource, namespace, meta)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(resource.kind, resource.group, "", [{
                    "reason": "FieldValueRequired", "field": "metadata.name",
                    "message": "Required value: name or generateName is required"}])
            meta["name"] = meta["generateName"] + "".join(random.choices(_SUFFIX_ALPHABET, k=5))
        name = meta["name"]
        if (namespace or "", name) in self._objects[resource.key]:
            raise errors.already_exists(resource.group, resource.plural, name)
        if namespace is not None and (("", namespace) not in self._objects[NAMESPACE_KEY]):
            raise errors.not_found("", "namespaces", namespace)
        for key in ("uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            meta.pop(key, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=self._clock())
        if namespace is not None:
            meta["namespace"] = namespace
        if resource.has_generation:
            meta["generation"] = 1
        if resource.status_subresource and resource.custom:
            obj.pop("status", None)  # like the API server: status is written only via /status
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        if resource.key == NAMESPACE_KEY:
            obj["status"] = {"phase": "Active"}
        obj = self._admit(resource, obj, strict=strict)
        if dry_run:
            return obj
        stored = self._store(resource, None, obj, "ADDED")
        self._collect_if_orphaned(resource, stored)
        return stored

    def replace(self, resource: ResourceType, namespace: str | None, name: str, body: dict[str, Any], *,
                subresource: str | None = None, dry_run: bool = False, strict: bool = False) -> dict[str, Any]:
        old = self._stored(resource, namespace, name)
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a JSON object")
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") not in (None, name):
            raise errors.bad_request(f'the name of the object ({body_meta.get("name")}) does not match the name '
                                     f'on the URL ({name})')
        wanted_rv = body_meta.get("resourceVersion")
        if wanted_rv and str(wanted_rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(resource.group, resource.plural, name)
        return self._update(resource, old, body, subresource, dry_run=dry_run, strict=strict)  # _update copies

    def patch(self, resource: ResourceType, namespace: str | None, name: str, patch_type: str, patch: Any, *,
              subresource: str | None = None, dry_run: bool = False, strict: bool = False) -> tuple[dict[str, Any], bool]:
        """Apply a patch; returns (object, created) since server-side apply may create."""
        stored = self._objects[resource.key].get((namespace or "", name))
        if patch_type == "apply":
            if not isinstance(patch, dict):
                raise errors.bad_request("an apply patch must be an object")
            if stored is None:
                body = copy.deepcopy(patch)
                body.setdefault("metadata", {})["name"] = name
                return self.create(resource, namespace, body, dry_run=dry_run, strict=strict), True
            patch = {key: value for key, value in patch.items() if key not in ("apiVersion", "kind")}
            patch_type = "merge"
        if stored is None:
            raise errors.not_found(resource.group, resource.plural, name)
        if patch_type == "strategic":
            if resource.custom:
                raise errors.unsupported_media_type("application/strategic-merge-patch+json")
            patch = _without_directives(patch)  # built-ins here have no list-merge keys that matter
            patch_type = "merge"
        if patch_type == "merge":
            if not isinstance(patch, dict):
                raise errors.bad_request("a merge patch must be a JSON object")
            wanted_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and str(wanted_rv) != stored["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.group, resource.plural, name)
            new = merge_patch(stored, patch)  # copies what it changes; _update copies the rest
        elif patch_type == "json":
            try:
                new = json_patch(stored, patch)
            except PatchError as exc:
                raise errors.ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                                                      f"request: {exc}") from None
            if not isinstance(new, dict):
                raise errors.ApiError(422, "Invalid", "a JSON patch must leave an object")
        else:
            raise errors.unsupported_media_type(patch_type)
        return self._update(resource, stored, new, subresource, dry_run=dry_run, strict=strict), False

    def delete(self, resource: ResourceType, namespace: str | None, name: str,
               options: dict[str, Any] | None = None, *, dry_run: bool = False) -> dict[str, Any]:
        old = self._stored(resource, namespace, name)
        preconditions = (options or {}).get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
            raise errors.conflict(resource.group, resource.plural, name,
                                  f'Precondition failed: UID in precondition: {preconditions["uid"]}, '
                                  f'UID in object meta: {old["metadata"]["uid"]}')
        if preconditions.get("resourceVersion") and str(preconditions["resourceVersion"]) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(resource.group, resource.plural, name)
        if dry_run:
            return old
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return old
            new = copy.deepcopy(old)
            new["metadata"].update(deletionTimestamp=self._clock(), deletionGracePeriodSeconds=0)
            return self._store(resource, old, new, "MODIFIED")
        return self._remove(resource, old)

    # -- internals ----------------------------------------------------------------------------

    def _namespace_for(self, resource: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str | None:
        if not resource.namespaced:
            meta.pop("namespace", None)
            return None
        body_namespace = meta.get("namespace")
        if namespace and body_namespace and body_namespace != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        namespace = namespace or body_namespace
        if not namespace:
            raise errors.bad_request(f"{resource.plural} is namespaced: a namespace is required")
        return namespace

    def _stored(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects[resource.key].get((namespace or "", name) if resource.namespaced else ("", name))
        if obj is None:
            raise errors.not_found(resource.group, resource.plural, name)
        return obj

    def _update(self, resource: ResourceType, old: dict[str, Any], new: dict[str, Any], subresource: str | None,
                *, dry_run: bool, strict: bool) -> dict[str, Any]:
        # Never share structure with the stored (immutable) object nor the caller's: copy each part once.
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = copy.deepcopy(status)
        elif subresource is not None:
            raise errors.resource_not_found(f"{resource.plural}/{subresource}")
        else:
            new = copy.deepcopy(new)
            if resource.status_subresource:
                new.pop("status", None)
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        for key in _SERVER_OWNED_METADATA:
            meta.pop(key, None)
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        new = self._admit(resource, new, strict=strict, old=old)
        if new == old:
            return old  # a no-op write changes nothing: no new resourceVersion, no event
        if resource.has_generation and _content(new, resource.status_subresource) != _content(old, resource.status_subresource):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        if dry_run:
            return new
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._store(resource, old, new, "MODIFIED")
            return self._remove(resource, new)
        return self._store(resource, old, new, "MODIFIED")

    def _admit(self, resource: ResourceType, obj: dict[str, Any], *, strict: bool,
               old: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate names and schemas; register CRDs. Raises 422/400 like the API server."""
        name = obj["metadata"].get("name", "")
        if old is None and (not isinstance(name, str) or len(name) > 253 or not _NAME_RE.match(name)):
            raise errors.invalid(resource.kind, resource.group, str(name), [{
                "reason": "FieldValueInvalid", "field": "metadata.name",
                "message": f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                           f"alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                           f"character"}])
        if resource.custom and resource.schema:
            result = check_object(resource.schema, obj)
            if result.causes:
                raise errors.invalid(resource.kind, resource.group, name, result.causes)
            if strict and result.unknown_fields:
                fields = ", ".join(f'unknown field "{path}"' for path in result.unknown_fields)
                raise errors.bad_request(f"{resource.kind} in version \"{resource.version}\" cannot be handled as a "
                                         f"{resource.kind}: strict decoding error: {fields}")
            obj = result.obj
        if resource.key == CRD_KEY:
            obj = self._admit_crd(obj)
        return obj

    def _admit_crd(self, crd: dict[str, Any]) -> dict[str, Any]:
        from .resources import types_from_crd
        try:
            types_from_crd(crd)
        except CRDError as exc:
            raise errors.invalid("CustomResourceDefinition", "apiextensions.k8s.io",
                                 crd["metadata"].get("name", ""), [{"reason": "FieldValueInvalid",
                                                                    "field": str(exc).split(":")[0],
                                                                    "message": str(exc).split(": ", 1)[-1]}]) from None
        spec = crd["spec"]
        expected = f'{spec["names"]["plural"]}.{spec["group"]}'
        if crd["metadata"].get("name") != expected:
            raise errors.invalid("CustomResourceDefinition", "apiextensions.k8s.io", crd["metadata"].get("name", ""), [{
                "reason": "FieldValueInvalid", "field": "metadata.name",
                "message": f'Invalid value: "{crd["metadata"].get("name")}": must be spec.names.plural+"."+spec.group'}])
        names = dict(spec["names"])
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
        crd = dict(crd)
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [version["name"] for version in spec["versions"] if version.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": crd["metadata"].get("creationTimestamp")},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted",
                 "lastTransitionTime": crd["metadata"].get("creationTimestamp")},
            ],
        }
        return crd

    def _store(self, resource: ResourceType, old: dict[str, Any] | None, new: dict[str, Any], kind: str) -> dict[str, Any]:
        rv = self._next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        namespace = new["metadata"].get("namespace", "") if resource.namespaced else ""
        self._objects[resource.key][(namespace, new["metadata"]["name"])] = new
        if resource.key == CRD_KEY:
            self.registry.register_crd(new)
        self._emit(WatchEvent(rv, resource.key, kind, new, old))
        return new

    def _remove(self, resource: ResourceType, old: dict[str, Any]) -> dict[str, Any]:
        namespace = old["metadata"].get("namespace", "") if resource.namespaced else ""
        rv = self._next_rv()
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
        del self._objects[resource.key][(namespace, old["metadata"]["name"])]
        self._emit(WatchEvent(rv, resource.key, "DELETED", gone, old))
        if resource.key == CRD_KEY:
            for served in self.registry.unregister_crd(old["metadata"]["name"]):
                self._drop_all(served)
        if resource.key == NAMESPACE_KEY:
            self._drop_namespace(old["metadata"]["name"])
        self._collect_dependents(old["metadata"].get("uid"))
        return gone

    def _collect_dependents(self, owner_uid: str | None) -> None:
        """Background cascading deletion, as the garbage collector does on a cluster: an object whose
        owners are all gone is deleted (its finalizers, if any, are honoured)."""
        if not owner_uid:
            return
        live = self._live_uids()
        for resource in self.registry.all():
            for obj in list(self._objects.get(resource.key, {}).values()):
                owners = {ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or []}
                if owner_uid in owners and not owners & live:
                    meta = obj["metadata"]
                    self.delete(resource, meta.get("namespace"), meta["name"])

    def _collect_if_orphaned(self, resource: ResourceType, obj: dict[str, Any]) -> None:
        """The garbage collector also deletes an object created with owners none of which exist: like
        Kubernetes' collector, it looks each owner up by its reference and compares the uid (a scan of
        every uid per create made creating N objects quadratic)."""
        meta = obj["metadata"]
        refs = meta.get("ownerReferences") or []
        if refs and not any(self._owner_exists(ref, meta.get("namespace")) for ref in refs):
            self.delete(resource, meta.get("namespace"), meta["name"])

    def _owner_exists(self, ref: dict[str, Any], namespace: str | None) -> bool:
        owner_type = self.registry.by_kind(ref.get("apiVersion") or "", ref.get("kind") or "")
        if owner_type is None:
            return False
        owners = self._objects.get(owner_type.key, {})
        owner = owners.get(((namespace or "") if owner_type.namespaced else "", ref.get("name")))
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")

    def _live_uids(self) -> set[str]:
        return {o["metadata"].get("uid") for objs in self._objects.values() for o in objs.values()}

    def _drop_all(self, resource: ResourceType) -> None:
        for obj in list(self._objects[resource.key].values()):
            self._remove(resource, obj)
        self._objects.pop(resource.key, None)

    def _drop_namespace(self, namespace: str) -> None:
        for resource in self.registry.all():
            if resource.namespaced:
                for (ns, _), obj in list(self._objects[resource.key].items()):
                    if ns == namespace:
                        self._remove(resource, obj)
