"""Watch streams: replay from a resourceVersion, then live events, filtered like the API server does.

An object that starts matching a selector arrives as ADDED, one that stops matching as DELETED.
A resourceVersion older than the bounded event log answers an ERROR event with a 410 Status, on
which kopf and client-go relist. Streams end at timeoutSeconds, on client disconnect, or at shutdown.
"""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import aiohttp.web

from . import errors, tables
from .resources import ResourceType
from .selectors import SelectorError, field_matcher, label_matcher
from .store import ObjectStore, WatchEvent

_DISCONNECT_POLL_SECONDS = 2.0


async def serve_watch(store: ObjectStore, raw: aiohttp.web.BaseRequest, resource: ResourceType, ns: str | None,
                      name: str | None, fault: tuple[str, float] | None = None) -> aiohttp.web.StreamResponse:
    """Stream newline-delimited watch events (JSON, or Table rows for kubectl get -w).

    `fault` (from faults.FaultPolicy): ('gone', _) answers 410 as for an expired resourceVersion,
    ('cut', seconds) ends the stream early, as a broken connection or a restarted API server does."""
    query = raw.query
    try:
        labels, fields = label_matcher(query.get("labelSelector")), field_matcher(query.get("fieldSelector"))
    except SelectorError as exc:
        raise errors.bad_request(str(exc)) from None

    def matches(obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        return ((ns is None or meta.get("namespace") == ns) and (name is None or meta.get("name") == name)
                and labels(obj) and fields(obj))

    def translate(event: WatchEvent) -> tuple[str, dict[str, Any]] | None:
        if event.key != resource.key:
            return None
        now, before = matches(event.obj), matches(event.old)
        if event.type == "ADDED":
            return ("ADDED", event.obj) if now else None
        if event.type == "DELETED":
            return ("DELETED", event.obj) if before or now else None
        if now and before:
            return ("MODIFIED", event.obj)
        if now:
            return ("ADDED", event.obj)
        return ("DELETED", event.obj) if before else None

    as_table = tables.wants_table(raw.headers.get("Accept", ""))
    include = query.get("includeObject", "PartialObjectMetadata")
    timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds", "").isdigit() else math.inf
    if fault is not None and fault[0] == "cut":
        timeout = min(timeout, fault[1])
    since = query.get("resourceVersion", "")
    queue = store.subscribe()  # subscribe first, then snapshot: no event falls in between
    try:
        backlog: list[tuple[str, dict[str, Any]]]
        error: dict[str, Any] | None = None
        if since in ("", "0"):
            backlog = [("ADDED", obj) for obj in store.list(resource, ns) if matches(obj)]
        elif not since.isdigit():
            raise errors.bad_request(f"invalid resourceVersion {since!r}")
        elif fault is not None and fault[0] == "gone":
            backlog, error = [], errors.ApiError(410, "Expired", f"too old resource version: {since} "
                                                                  f"(injected fault)").status()
        else:
            try:
                backlog = [pair for event in store.events_since(int(since)) if (pair := translate(event))]
            except errors.ApiError as exc:
                backlog, error = [], exc.status()
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        first = [True]

        async def send(kind: str, obj: dict[str, Any]) -> None:
            if as_table:
                obj = tables.table(resource, [obj], obj["metadata"].get("resourceVersion", ""), include,
                                   with_columns=first[0])
                first[0] = False
            elif obj.get("apiVersion") != resource.api_version:
                obj = {**obj, "apiVersion": resource.api_version}
            await response.write(json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n")

        try:
            if error is not None:
                await response.write(json.dumps({"type": "ERROR", "object": error}).encode() + b"\n")
                return response
            for kind, obj in backlog:
                await send(kind, obj)
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), min(remaining, _DISCONNECT_POLL_SECONDS))
                except asyncio.TimeoutError:
                    if raw.transport is None or raw.transport.is_closing():
                        break
                    continue
                if event is None:  # the server is shutting down
                    break
                if (pair := translate(event)) is not None:
                    await send(*pair)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        return response
    finally:
        store.unsubscribe(queue)
