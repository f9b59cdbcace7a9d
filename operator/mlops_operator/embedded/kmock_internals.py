"""The one place that reaches into kmock's internals (kmock is pinned to 0.8.x).

The embedded API keeps kmock as its base (HTTP plumbing, error rendering, the request DSL that tests
use to inject faults) but replaces its unbounded request history and its dispatch. That needs
kmock's request record, its action enum, the emulator's private history and reaction lists. All of
it is here; `tests/embedded/test_kmock_internals.py` fails loudly when a kmock upgrade moves any of it.
"""
from __future__ import annotations

import collections
import functools
import json
from typing import Any

import aiohttp.web
from kmock import KubernetesEmulator
from kmock._internal import enums, references, rendering

from . import routing

#: The kmock release these internals were read from.
KMOCK_SERIES = "0.8"
Request = rendering.Request


def _action(method: str, path: routing.ResourcePath | None, query: Any) -> enums.action | None:
    if path is None:
        return None
    if method == "GET":
        return (enums.action.WATCH if query.get("watch", "").lower() in ("true", "1") else
                enums.action.LIST if path.name is None else enums.action.FETCH)
    return {"POST": enums.action.CREATE, "PATCH": enums.action.UPDATE, "PUT": enums.action.UPDATE,
            "DELETE": enums.action.DELETE}.get(method)


@functools.lru_cache(maxsize=64)
def _method(method: str) -> enums.method:
    """kmock's method enum for an HTTP method; guessing it costs more than the rest of the record."""
    return enums.method(method)


@functools.lru_cache(maxsize=1024)
def _resource(group: str, version: str, plural: str) -> references.resource:
    """kmock's resource reference (frozen, so one per resource is shared); building one costs ~15 µs."""
    return references.resource(group, version, plural)


def request_record(raw: aiohttp.web.BaseRequest, body: bytes, route: routing.Route | None) -> rendering.Request:
    """kmock's request record, built from our router (kmock's parser fails on `/api/v1/namespaces`).

    `route` is `routing.parse(raw.path)`, which the caller needs too (parsed once per request)."""
    path = route.resource if route is not None else None
    text = body.decode(errors="replace")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    return rendering.Request(
        method=_method(raw.method), url=raw.url, params=dict(raw.query), headers=dict(raw.headers), body=body,
        text=text, data=data, action=_action(raw.method, path, raw.query),
        resource=_resource(path.group, path.version, path.plural) if path else None,
        namespace=path.namespace if path else None, name=path.name if path else None,
        subresource=path.subresource if path else None, raw_request=raw)


def json_body(request: rendering.Request) -> Any:
    """The body as decoded JSON when the record holds exactly what a strict decoding gives, else None.

    The record decodes with errors="replace": with no U+FFFD in its text, nothing was replaced."""
    if request.data is None or "\ufffd" in request.text:
        return None
    return request.data


def bound_history(emulator: KubernetesEmulator, maxlen: int) -> int:
    """Replace kmock's unbounded request list by a bounded one; returns the count of built-in reactions
    (those registered before any test declared its own)."""
    emulator._requests = collections.deque(maxlen=maxlen)  # type: ignore[assignment]
    return len(emulator._payloads)


def remember(emulator: KubernetesEmulator, request: rendering.Request) -> None:
    emulator._requests.append(request)


def retained(emulator: KubernetesEmulator) -> int:
    return len(emulator._requests)


def has_user_reactions(emulator: KubernetesEmulator, builtin: int) -> bool:
    return len(emulator._payloads) > builtin


async def react(emulator: KubernetesEmulator, builtin: int,
                request: rendering.Request) -> aiohttp.web.StreamResponse | None:
    """User-declared kmock reactions (fault injection in tests), highest priority first; None if none matched."""
    user = emulator._payloads[builtin:]
    for payload in sorted(user, key=lambda p: tuple(-x for x in p.priorities)):
        if request in payload._source and not payload._disabled.is_set():
            try:
                return await payload(request)
            except rendering.ReactionMismatchError:
                payload._disabled.set()
            except NotImplementedError:
                pass
    return None
