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
from .store import ObjectStore, WatchEvent, compact_json

_DISCONNECT_POLL_SECONDS = 2.0


async def serve_watch(store: ObjectStore, raw: aiohttp.web.BaseRequest, resource: ResourceType, ns: str | None,
                      name: str | None, fault: tuple[str, float] | None = None) -> aiohttp.web.StreamResponse:
    """Stream newline-delimited watch events (JSON, or Table rows for kubectl get -w).

    `fault` (from faults.FaultPolicy): ('gone', _) answers 410 as for an expired resourceVersion,
    ('cut', seconds) ends the stream early, as a broken connection or a restarted API server does.

    Cheap per event, since every write fans out to the watchers: a stream is woken only by changes of
    its resource, sends the line the store encoded once for all, and writes whatever queued up meanwhile
    in one chunk."""
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

    def translate(event: WatchEvent) -> str | None:
        """The event type this watcher sees for `event` (of its resource), None when it sees nothing."""
        now, before = matches(event.obj), matches(event.old)
        if event.type == "ADDED":
            return "ADDED" if now else None
        if event.type == "DELETED":
            return "DELETED" if before or now else None
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None

    as_table = tables.wants_table(raw.headers.get("Accept", ""))
    include = query.get("includeObject", "PartialObjectMetadata")
    timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds", "").isdigit() else math.inf
    if fault is not None and fault[0] == "cut":
        timeout = min(timeout, fault[1])
    since = query.get("resourceVersion", "")
    queue = store.subscribe(resource.key)  # subscribe first, then snapshot: no event falls in between
    try:
        first = [True]

        def line(kind: str, obj: dict[str, Any], event: WatchEvent | None = None) -> bytes:
            if as_table:
                table = tables.table(resource, [obj], obj["metadata"].get("resourceVersion", ""), include,
                                     with_columns=first[0])
                first[0] = False
                return compact_json({"type": kind, "object": table}) + b"\n"
            if event is not None:
                return event.line(kind, resource.api_version)  # encoded once for all its watchers
            if obj.get("apiVersion") != resource.api_version:
                obj = {**obj, "apiVersion": resource.api_version}
            return compact_json({"type": kind, "object": obj}) + b"\n"

        def lines(events: list[WatchEvent]) -> list[bytes]:
            return [line(kind, event.obj, event) for event in events if (kind := translate(event)) is not None]

        backlog: list[bytes] = []
        error: dict[str, Any] | None = None
        if since in ("", "0"):
            backlog = [line("ADDED", obj) for obj in store.list(resource, ns) if matches(obj)]
        elif not since.isdigit():
            raise errors.bad_request(f"invalid resourceVersion {since!r}")
        elif fault is not None and fault[0] == "gone":
            error = errors.ApiError(410, "Expired", f"too old resource version: {since} (injected fault)").status()
        else:
            try:
                backlog = lines([event for event in store.events_since(int(since)) if event.key == resource.key])
            except errors.ApiError as exc:
                backlog, error = [], exc.status()
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw)
        try:
            if error is not None:
                await response.write(json.dumps({"type": "ERROR", "object": error}).encode() + b"\n")
                return response
            if backlog:
                await response.write(b"".join(backlog))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    async with asyncio.timeout(min(remaining, _DISCONNECT_POLL_SECONDS)):  # no task, unlike wait_for
                        event = await queue.get()
                except TimeoutError:
                    if raw.transport is None or raw.transport.is_closing():
                        break
                    continue
                events, closing = _drain(queue, event)
                if chunk := b"".join(lines(events)):
                    await response.write(chunk)  # all the events queued meanwhile: one write, one chunk
                if closing:
                    break
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        return response
    finally:
        store.unsubscribe(queue)


def _drain(queue: asyncio.Queue[WatchEvent | None], first: WatchEvent | None) -> tuple[list[WatchEvent], bool]:
    """`first` and the events queued behind it, up to the shutdown mark (None); True when it was met."""
    events: list[WatchEvent] = []
    event = first
    while event is not None:
        events.append(event)
        if queue.empty():
            return events, False
        event = queue.get_nowait()
    return events, True
