"""`EmbeddedKubernetes`: kmock's KubernetesEmulator with real API-server semantics behind it.

kmock stays the base: its HTTP plumbing, Kubernetes error rendering and request DSL (tests can still
declare `emulator['get /api/v1/namespaces'] << 500` to inject faults; such reactions win over the
built-in behaviour). What kmock 0.8 cannot do cleanly is replaced inside this class:

* kmock keeps every request in an unbounded list and rescans it for every new request (the DSL's
  `request in view` walks the history), so latency grows with uptime. Here the history is a bounded
  deque and the built-in behaviour is dispatched directly, not through the DSL's fallback reactions.
* kmock's object store merges dicts without resourceVersion/uid/generation, keeps every version of
  every object, and mis-parses `/api/v1/namespaces`. The ObjectStore and the URL router replace it.
* kmock parses only JSON bodies; kubectl also sends YAML (server-side apply) and, for built-ins in its
  imperative commands, protobuf (decoded for the few kinds in `protobuf.py`).
"""
from __future__ import annotations

import collections
import json
import logging
import time
from typing import Any, Callable

import aiohttp.web
import attrs
import yaml
from kmock import KubernetesEmulator

from . import discovery, errors, kmock_internals, openapi, protobuf, routing, tables, watching
from .resources import Registry, ResourceType
from .selectors import SelectorError
from .faults import FaultPolicy
from .store import ObjectStore, compact_json

logger = logging.getLogger(__name__)

_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "unsupported",
}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=compact_json(body), status=status,
                                content_type="application/json", headers=headers)


def _written(store: ObjectStore, obj: dict[str, Any], status: int = 200) -> aiohttp.web.Response:
    """The answer to a write: the object, encoded once for this answer and the watch streams."""
    return aiohttp.web.Response(body=store.encode(obj), status=status, content_type="application/json")


def _is_watch(raw: aiohttp.web.BaseRequest) -> bool:
    return raw.method == "GET" and raw.query.get("watch", "").lower() in ("true", "1")


@attrs.frozen
class AuditedCall:
    """One API call in RBAC terms: who (User-Agent), verb, group, resource, subresource."""

    user_agent: str
    verb: str
    group: str
    resource: str
    subresource: str | None
    namespaced: bool


def audited_call(raw: aiohttp.web.BaseRequest, path: routing.ResourcePath) -> AuditedCall:
    named = path.name is not None
    verb = {
        "GET": "get" if named else ("watch" if raw.query.get("watch", "").lower() in ("true", "1") else "list"),
        "POST": "create", "PUT": "update", "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }.get(raw.method, raw.method.lower())
    return AuditedCall(raw.headers.get("User-Agent", ""), verb, path.group, path.plural, path.subresource,
                       path.namespace is not None)


@attrs.frozen
class TimedCall:
    """One API call on one object, with the time it arrived (for "nothing after deletion" checks)."""

    time: float
    user_agent: str
    method: str
    namespace: str | None
    plural: str
    name: str | None
    subresource: str | None


@attrs.define(kw_only=True)
class EmbeddedKubernetes(KubernetesEmulator):
    """A Kubernetes API server in memory, served over HTTP by EmbeddedAPIServer."""

    registry: Registry = attrs.field(factory=Registry.with_builtins)
    store: ObjectStore = attrs.field(default=None)
    request_history: int = 256
    watch_history: int = 10_000
    address: str = "127.0.0.1"
    _builtin_reactions: int = attrs.field(default=0, init=False)
    request_count: int = attrs.field(default=0, init=False)
    #: Distinct calls per client, like an audit log reduced to RBAC terms; finite, so unbounded is fine.
    calls: "collections.Counter[AuditedCall]" = attrs.field(factory=collections.Counter, init=False)
    #: The latest calls on resources, in arrival order, with the object's name (bounded).
    timeline: "collections.deque[TimedCall]" = attrs.field(factory=lambda: collections.deque(maxlen=50_000),
                                                         init=False)
    #: Injected failures (None: none); see faults.FaultPolicy.
    faults: FaultPolicy | None = None
    #: Called as hook(call, body, "before") before a resource call is served and (call, body, "after")
    #: once it was, before the answer is sent: tests kill clients at chosen points of their work with it.
    #: An ApiError raised "before" is the answer and the call is not applied.
    call_hook: Callable[[TimedCall, Any, str], None] | None = None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.store is None:
            self.store = ObjectStore(self.registry, history=self.watch_history)
        # Bounded: kmock appends every request here and never forgets (see the module docstring).
        self._builtin_reactions = kmock_internals.bound_history(self, self.request_history)

    @property
    def retained_requests(self) -> int:
        """How many request records are kept (bounded by `request_history`)."""
        return kmock_internals.retained(self)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        try:
            route = routing.parse(raw_request.path)
            request = kmock_internals.request_record(raw_request, body, route)
            kmock_internals.remember(self, request)
            call = self._record(raw_request, request)
            if kmock_internals.has_user_reactions(self, self._builtin_reactions):
                reacted = await kmock_internals.react(self, self._builtin_reactions, request)
                if reacted is not None:
                    return reacted
            hook = self.call_hook
            parsed = kmock_internals.json_body(request)
            if call is None or hook is None:
                return await self._serve(raw_request, route, parsed)
            hook(call, request.data, "before")
            response = await self._serve(raw_request, route, parsed)
            hook(call, request.data, "after")
            return response
        except errors.ApiError as exc:
            return _json(exc.status(), status=exc.code, headers=exc.headers)
        except Exception as exc:  # a bug here must still answer like an API server, and be visible
            logger.exception("embedded API failed on %s %s", raw_request.method, raw_request.path_qs)
            return _json(errors.ApiError(500, "InternalError", f"{type(exc).__name__}: {exc}").status(), status=500)

    def _record(self, raw: aiohttp.web.BaseRequest, request: kmock_internals.Request) -> TimedCall | None:
        if request.resource is None:
            return None
        name = request.name
        if name is None and raw.method == "POST" and isinstance(request.data, dict):
            name = (request.data.get("metadata") or {}).get("name")
        call = TimedCall(time.time(), raw.headers.get("User-Agent", ""), raw.method,
                         request.namespace, request.resource.plural, name, request.subresource)
        self.timeline.append(call)
        return call

    # -- dispatch -------------------------------------------------------------------------------

    async def _serve(self, raw: aiohttp.web.BaseRequest, route: routing.Route | None,
                     parsed: Any) -> aiohttp.web.StreamResponse:
        """`route` is the parsed URL, `parsed` the JSON body already decoded for kmock's record (or None)."""
        self.request_count += 1
        if route is None:
            raise errors.resource_not_found(raw.path)
        if route.kind == "resource":
            assert route.resource is not None
            self.calls[audited_call(raw, route.resource)] += 1
            if self.faults is not None and not _is_watch(raw):
                await self.faults.before_call(raw.method, raw.headers.get("User-Agent", ""))
            return await self._serve_resource(raw, route.resource, parsed)
        if raw.method != "GET":
            raise errors.method_not_allowed()
        document = self._document(route)
        if document is None:
            raise errors.resource_not_found(raw.path)
        return _json(document)

    def _document(self, route: routing.Route) -> dict[str, Any] | None:
        match route.kind:
            case "root":
                return discovery.root_paths(self.registry)
            case "version":
                return discovery.SERVER_VERSION
            case "health":
                return {"status": "ok"}
            case "api":
                return discovery.api_versions(self.address)
            case "apis":
                return discovery.api_group_list(self.registry)
            case "group":
                return discovery.api_group(self.registry, route.group)
            case "resources":
                return discovery.api_resource_list(self.registry, route.group, route.version)
            case "openapi-index":
                return openapi.index_document(self.registry)
            case "openapi":
                return openapi.group_version_document(self.registry, route.group, route.version)
        return None

    def _resource(self, path: routing.ResourcePath) -> ResourceType:
        resource = self.registry.get(path.group, path.version, path.plural)
        if resource is None:
            raise errors.resource_not_found(f"{path.plural}.{path.group}" if path.group else path.plural)
        if resource.namespaced and path.name is not None and path.namespace is None:
            raise errors.resource_not_found(f"{path.plural} requires a namespace")
        if not resource.namespaced and path.namespace is not None:
            raise errors.resource_not_found(f"{path.plural} is cluster-scoped")
        if path.subresource is not None and not (path.subresource == "status" and resource.status_subresource):
            raise errors.resource_not_found(f"{path.plural}/{path.subresource}")
        return resource

    async def _serve_resource(self, raw: aiohttp.web.BaseRequest, path: routing.ResourcePath,
                              parsed: Any) -> aiohttp.web.StreamResponse:
        resource = self._resource(path)
        query = raw.query
        strict = query.get("fieldValidation", "") == "Strict"
        dry_run = query.get("dryRun", "") == "All"
        store, ns, name = self.store, path.namespace, path.name
        if raw.method == "GET":
            if _is_watch(raw):
                return await self._watch(raw, resource, ns, name)
            if name is None:
                return self._list(raw, resource, ns)
            obj = store.get(resource, ns, name)
            if tables.wants_table(raw.headers.get("Accept", "")):
                return _json(tables.table(resource, [obj], store.resource_version,
                                          query.get("includeObject", "PartialObjectMetadata")))
            return _json(obj)
        if raw.method == "POST" and name is None:
            return _written(store, store.create(resource, ns, await self._body(raw, parsed), dry_run=dry_run,
                                                strict=strict), status=201)
        if raw.method == "PUT" and name is not None:
            return _written(store, store.replace(resource, ns, name, await self._body(raw, parsed),
                                                 subresource=path.subresource, dry_run=dry_run, strict=strict))
        if raw.method == "PATCH" and name is not None:
            patch_type = _PATCH_TYPES.get(raw.content_type, "unsupported")
            if patch_type == "unsupported":
                raise errors.unsupported_media_type(raw.content_type)
            obj, created = store.patch(resource, ns, name, patch_type, await self._body(raw, parsed),
                                       subresource=path.subresource, dry_run=dry_run, strict=strict)
            return _written(store, obj, status=201 if created else 200)
        if raw.method == "DELETE" and path.subresource is None:
            body = await self._body(raw, parsed, required=False) or {}
            if name is not None:
                return _written(store, store.delete(resource, ns, name, body, dry_run=dry_run))
            deleted = [store.delete(resource, obj["metadata"].get("namespace"), obj["metadata"]["name"], body,
                                    dry_run=dry_run) for obj in self._select(raw, resource, ns)]
            return _json(self._list_body(resource, deleted))
        raise errors.method_not_allowed()

    async def _body(self, raw: aiohttp.web.BaseRequest, parsed: Any, required: bool = True) -> Any:
        """The request body as an object; `parsed` is the JSON decoded once already for kmock's record."""
        if raw.content_type == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(await raw.read())
            except protobuf.ProtobufError as exc:
                raise errors.ApiError(415, "UnsupportedMediaType", str(exc)) from None
        if raw.content_type == "application/cbor":
            raise errors.ApiError(415, "UnsupportedMediaType", "CBOR bodies are not supported: send JSON")
        if parsed is not None and raw.content_type != "application/apply-patch+yaml":
            return parsed  # what json.loads below would return (YAML 1.1 reads some JSON differently)
        text = (await raw.read()).decode()  # aiohttp caches the body read in __call__
        if not text.strip():
            if required:
                raise errors.bad_request("the request body is empty")
            return None
        try:
            if raw.content_type == "application/apply-patch+yaml":
                return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            return json.loads(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"the request body is not valid {raw.content_type}: {exc}") from None

    # -- list & watch -----------------------------------------------------------------------------

    def _select(self, raw: aiohttp.web.BaseRequest, resource: ResourceType, ns: str | None) -> list[dict[str, Any]]:
        try:
            return self.store.list(resource, ns, raw.query.get("labelSelector"), raw.query.get("fieldSelector"))
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from None

    def _list_body(self, resource: ResourceType, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"kind": resource.list_kind, "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": self.store.resource_version}, "items": items}

    def _list(self, raw: aiohttp.web.BaseRequest, resource: ResourceType, ns: str | None) -> aiohttp.web.Response:
        items = self._select(raw, resource, ns)
        if tables.wants_table(raw.headers.get("Accept", "")):
            return _json(tables.table(resource, items, self.store.resource_version,
                                      raw.query.get("includeObject", "PartialObjectMetadata")))
        return _json(self._list_body(resource, items))

    async def _watch(self, raw: aiohttp.web.BaseRequest, resource: ResourceType, ns: str | None,
                     name: str | None) -> aiohttp.web.StreamResponse:
        fault = None
        if self.faults is not None:
            fault = self.faults.watch_fault(raw.headers.get("User-Agent", ""),
                                            resuming=raw.query.get("resourceVersion", "") not in ("", "0"))
        return await watching.serve_watch(self.store, raw, resource, ns, name, fault=fault)

    @property
    def objects(self) -> ObjectStore:  # type: ignore[override]
        """The object store (kmock's own `objects` view is not used by this emulator)."""
        return self.store
