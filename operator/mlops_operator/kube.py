"""The few Kubernetes calls the handlers make beyond what kopf does for them.

Blocking `kubernetes` client calls run in a thread so the operator's event loop stays free.
Every call here is one RBAC rule in the chart; keep the list short.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .settings import Settings


USER_AGENT = "mlops-operator/0.1.0"


@functools.cache
def _timeout() -> float:
    """Seconds one call may take; a hung call fails and the reconcile turn is retried."""
    return Settings.from_env().api_timeout


@functools.cache
def _api() -> client.CustomObjectsApi:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    api_client = client.ApiClient()
    api_client.user_agent = USER_AGENT  # tells the operator's own calls apart in audits
    return client.CustomObjectsApi(api_client)


def close() -> None:
    """Drop the client and its connections (kopf cleanup): an operator started again in this process opens new ones."""
    if _api.cache_info().currsize:
        api_client = _api().api_client
        api_client.close()
        api_client.rest_client.pool_manager.clear()
    _api.cache_clear()
    _timeout.cache_clear()


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


async def get(api_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    group, version = _split(api_version)
    try:
        return await asyncio.to_thread(
            _api().get_namespaced_custom_object, group, version, namespace, plural, name,
            _request_timeout=_timeout(),
        )
    except ApiException as e:
        if e.status == 404:
            return None
        raise


async def create(api_version: str, plural: str, namespace: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create, or return the existing object of that name: (object, created)."""
    group, version = _split(api_version)
    try:
        made = await asyncio.to_thread(
            _api().create_namespaced_custom_object, group, version, namespace, plural, body,
            _request_timeout=_timeout(),
        )
        return made, True
    except ApiException as e:
        if e.status != 409:
            raise
    existing = await get(api_version, plural, namespace, body["metadata"]["name"])
    if existing is None:  # deleted in between; let the next reconcile try again
        raise RuntimeError(f"{plural}/{body['metadata']['name']} conflicted and vanished")
    return existing, False


async def patch(api_version: str, plural: str, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch of the main resource (never status)."""
    group, version = _split(api_version)
    return await asyncio.to_thread(
        functools.partial(
            _api().patch_namespaced_custom_object, group, version, namespace, plural, name, body,
            _request_timeout=_timeout(),
        )
    )


class Conflict(Exception):
    """The object changed since it was read (409 on a resourceVersion precondition)."""


async def patch_status(api_version: str, plural: str, namespace: str, name: str,
                       body: dict[str, Any]) -> dict[str, Any] | None:
    """JSON merge patch of the status subresource; None when the object is gone."""
    group, version = _split(api_version)
    try:
        return await asyncio.to_thread(
            _api().patch_namespaced_custom_object_status, group, version, namespace, plural, name, body,
            _request_timeout=_timeout(),
        )
    except ApiException as e:
        if e.status == 404:
            return None
        if e.status == 409:
            raise Conflict(f"{plural}/{name}: {e.reason}") from None
        raise
