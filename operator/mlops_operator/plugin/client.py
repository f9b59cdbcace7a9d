"""The plugin's only door to the cluster: kubeconfig, context and namespace like kubectl, and errors as one line.

Every failure a user can meet (no kubeconfig, unknown context, API unreachable, object or CRD
missing, forbidden) becomes a `PluginError` whose text is the whole message; `main` prints it as
`Error: ...` and exits 1, without a traceback.
"""
from __future__ import annotations

import json
import os
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from .kinds import API_GROUP, API_VERSION, Kind

#: Seconds a single API call may take before the cluster counts as unreachable.
REQUEST_TIMEOUT = 15
USER_AGENT = "kubectl-mlops"


class PluginError(Exception):
    """A failure to report to the user as one line."""


def _kubeconfig_label(path: str | None) -> str:
    return path or os.environ.get("KUBECONFIG") or "~/.kube/config"


class Cluster:
    """Custom objects and Events in one namespace, through a kubeconfig context."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None):
        cfg = client.Configuration()
        try:
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
            if context and context not in {c["name"] for c in contexts}:
                raise PluginError(f'context "{context}" not found in kubeconfig {_kubeconfig_label(kubeconfig)} '
                                  f'(contexts: {", ".join(c["name"] for c in contexts)})')
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                                    persist_config=False)
        except PluginError:
            raise
        except (ConfigException, OSError) as e:
            raise PluginError(f"cannot load kubeconfig {_kubeconfig_label(kubeconfig)}: {str(e).strip()}") from None
        except Exception as e:  # a malformed file: yaml errors and the like
            raise PluginError(f"cannot load kubeconfig {_kubeconfig_label(kubeconfig)}: {e}") from None
        chosen = next((c for c in contexts if c["name"] == context), None) if context else active
        self.context = (chosen or {}).get("name")
        self.namespace = namespace or ((chosen or {}).get("context") or {}).get("namespace") or "default"
        cfg.retries = 0  # one attempt: an unreachable API answers at once, not after minutes of retries
        self.server = cfg.host
        api_client = client.ApiClient(cfg)
        api_client.user_agent = USER_AGENT
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)

    # -- error translation -------------------------------------------------------------------------
    def _call(self, what: str, fn, *args: Any, kind: Kind | None = None, name: str | None = None, **kwargs: Any):
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except ApiException as e:
            raise PluginError(self._api_error(e, what, kind, name)) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise PluginError(f"cannot reach the Kubernetes API at {self.server} (context {self.context}): "
                              f"{_short(reason)}") from None

    def _api_error(self, e: ApiException, what: str, kind: Kind | None, name: str | None) -> str:
        message = ""
        try:
            message = json.loads(e.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            pass
        if e.status == 404 and kind is not None:
            if name is None or "the requested resource" in message:
                return (f"the server does not know {kind.resource}: are the mlops-operator CRDs installed? "
                        f"(kubectl apply --server-side -k crds)")
            return f'{kind.resource} "{name}" not found in namespace "{self.namespace}"'
        return f"{what}: {message or e.reason} (HTTP {e.status})"

    # -- custom objects ---------------------------------------------------------------------------
    def get(self, kind: Kind, name: str) -> dict[str, Any]:
        return self._call(f"get {kind.singular} {name}", self.custom.get_namespaced_custom_object,
                          API_GROUP, API_VERSION, self.namespace, kind.plural, name, kind=kind, name=name)

    def list(self, kind: Kind) -> list[dict[str, Any]]:
        result = self._call(f"list {kind.plural}", self.custom.list_namespaced_custom_object,
                            API_GROUP, API_VERSION, self.namespace, kind.plural, kind=kind)
        return list(result.get("items") or [])

    def patch(self, kind: Kind, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (the client sends dicts as merge patches for custom objects)."""
        return self._call(f"patch {kind.singular} {name}", self.custom.patch_namespaced_custom_object,
                          API_GROUP, API_VERSION, self.namespace, kind.plural, name, body, kind=kind, name=name)

    def create(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        return self._call(f"create {kind.singular} {name}", self.custom.create_namespaced_custom_object,
                          API_GROUP, API_VERSION, self.namespace, kind.plural, body, kind=kind)

    def events(self, name: str, kind: Kind | None = None) -> list[dict[str, Any]]:
        """Events about one object, oldest first, as plain dicts (type, reason, message, time, count)."""
        items = self._call("list events", self.core.list_namespaced_event, self.namespace).items
        out = []
        for e in items:
            obj = e.involved_object
            if obj is None or obj.name != name or (kind is not None and obj.kind not in (None, kind.kind)):
                continue
            when = e.last_timestamp or e.event_time or e.first_timestamp or (e.metadata and e.metadata.creation_timestamp)
            out.append({"type": e.type, "reason": e.reason, "message": e.message or "", "count": e.count or 1,
                        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(when, "strftime") else (when or "")})
        out.sort(key=lambda e: e["time"])
        return out


def _short(reason: Any) -> str:
    text = str(reason)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host",
                   "Temporary failure in name resolution"):
        if marker.lower() in text.lower():
            return marker.lower()
    return text.splitlines()[0][:200] if text else "no answer"
