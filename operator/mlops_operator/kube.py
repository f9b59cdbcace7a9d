"""The few Kubernetes calls the handlers make beyond what kopf does for them.

They go through one aiohttp session on the operator's event loop, with the credentials the `kubernetes`
package loads (in-cluster, or the kubeconfig: CA, client certificate, refreshed bearer token, proxy).
The blocking `kubernetes` client in threads cost an eighth of the operator's CPU at 1,000 objects, most
of it thread hand-offs and GIL contention rather than HTTP. Every call here is one RBAC rule in the
chart; keep the list short.
"""
from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes import client, config

from .settings import Settings

USER_AGENT = "mlops-operator/0.1.0"
MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    """The API server refused a call: its HTTP status and the message of its Status object."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status


class Conflict(Exception):
    """The object changed since it was read (409 on a resourceVersion precondition)."""


@dataclass
class _Connection:
    session: aiohttp.ClientSession
    configuration: client.Configuration
    timeout: aiohttp.ClientTimeout
    loop: asyncio.AbstractEventLoop


_connection: _Connection | None = None


def _ssl_context(cfg: client.Configuration) -> ssl.SSLContext | bool:
    if not cfg.host.startswith("https:"):
        return False
    context = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
    if not cfg.verify_ssl:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    if cfg.cert_file:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    return context


def _connect() -> _Connection:
    """The session of this event loop (made on first use: an operator started again in the same process,
    on another loop, opens its own)."""
    global _connection
    loop = asyncio.get_running_loop()
    if _connection is None or _connection.loop is not loop or _connection.session.closed:
        cfg = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=cfg)
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=_ssl_context(cfg)),
            headers={"User-Agent": USER_AGENT},  # tells the operator's own calls apart in audits
        )
        # A hung call fails and the reconcile turn is retried.
        timeout = aiohttp.ClientTimeout(total=Settings.from_env().api_timeout)
        _connection = _Connection(session, cfg, timeout, loop)
    return _connection


def connected() -> bool:
    return _connection is not None


async def close() -> None:
    """Close the session (kopf cleanup): nothing stays open after the operator stops."""
    global _connection
    if _connection is not None and _connection.loop is asyncio.get_running_loop():
        await _connection.session.close()
    _connection = None  # one of a loop that has ended is only dropped


def _path(api_version: str, plural: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
    group, _, version = api_version.rpartition("/")
    parts = ["/apis", group, version] if group else ["/api", version]
    parts += ["namespaces", namespace, plural, *(p for p in (name, sub) if p)]
    return "/".join(parts)


async def _call(method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
    c = _connect()
    # auth_settings() runs the kubernetes package's token refresh (in-cluster tokens rotate).
    headers = {a["key"]: a["value"] for a in c.configuration.auth_settings().values() if a["in"] == "header"}
    if body is not None:
        headers["Content-Type"] = content_type
    async with c.session.request(method, c.configuration.host + path, headers=headers, timeout=c.timeout,
                                 data=None if body is None else json.dumps(body),
                                 proxy=c.configuration.proxy or None) as response:
        payload = await response.read()
        if response.status >= 400:
            raise ApiError(response.status, f"{method} {path}: {_message(payload) or response.reason}")
        return json.loads(payload)


def _message(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("message") or "")
    except (ValueError, AttributeError):
        return payload[:200].decode(errors="replace")


async def get(api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return await _call("GET", _path(api_version, plural, namespace, name))
    except ApiError as e:
        if e.status == 404:
            return None
        raise


async def create(api_version: str, plural: str, namespace: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create, or return the existing object of that name: (object, created)."""
    try:
        return await _call("POST", _path(api_version, plural, namespace), body), True
    except ApiError as e:
        if e.status != 409:
            raise
    existing = await get(api_version, plural, namespace, body["metadata"]["name"])
    if existing is None:  # deleted in between; let the next reconcile try again
        raise RuntimeError(f"{plural}/{body['metadata']['name']} conflicted and vanished")
    return existing, False


async def patch(api_version: str, plural: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch of the main resource (never status)."""
    return await _call("PATCH", _path(api_version, plural, namespace, name), body, MERGE_PATCH)


async def patch_status(api_version: str, plural: str, namespace: str, name: str,
                       body: dict[str, Any]) -> dict[str, Any] | None:
    """JSON merge patch of the status subresource; None when the object is gone."""
    try:
        return await _call("PATCH", _path(api_version, plural, namespace, name, "status"), body, MERGE_PATCH)
    except ApiError as e:
        if e.status == 404:
            return None
        if e.status == 409:
            raise Conflict(f"{plural}/{name}: {e}") from None
        raise
