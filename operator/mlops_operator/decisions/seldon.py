"""The SeldonDeployment the operator wants, and what Seldon says about it.

Pure functions: a ModelDeployment's serving intent becomes one Seldon Core v1 object
(protocol v2 through MLServer), and a SeldonDeployment's status becomes our `SeldonStatus`.
The same object is realised by Seldon's controller on a cluster and by our local controller
(`mlops_operator.serving`) in the embedded dev cluster, so local mode runs the cluster path.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any, Iterable

from mlops_operator.api.modeldeployment import SeldonStatus

SELDON_GROUP = "machinelearning.seldon.io"
SELDON_VERSION = "v1"
SELDON_API_VERSION = f"{SELDON_GROUP}/{SELDON_VERSION}"
SELDON_KIND = "SeldonDeployment"
SELDON_PLURAL = "seldondeployments"

#: Name of the single graph node (and of the model in V2 paths: /v2/models/model/infer).
GRAPH_NODE = "model"

#: Seldon states we act on (Seldon also reports others; they read as "not ready").
STATE_AVAILABLE = "Available"
STATE_CREATING = "Creating"
STATE_FAILED = "Failed"

#: Model URIs Seldon's storage initializer downloads from an object store (rclone remote "s3" for s3://).
OBJECT_STORE_SCHEMES = ("s3://", "gs://")

#: Kubernetes API paths of SeldonDeployments (all namespaces / one object).
COLLECTION_PATH = f"/apis/{SELDON_GROUP}/{SELDON_VERSION}/{SELDON_PLURAL}"


def object_path(namespace: str, name: str) -> str:
    return f"/apis/{SELDON_GROUP}/{SELDON_VERSION}/namespaces/{namespace}/{SELDON_PLURAL}/{name}"


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Predictor:
    """One model version behind the deployment.

    `traffic` is the share of live requests (0..100) for a normal predictor; for a shadow it is
    the share of requests mirrored to it (Seldon's mirror percentage; 0 means all).
    """

    name: str
    model_uri: str
    traffic: int
    shadow: bool = False


def validate_predictors(predictors: Iterable[Predictor]) -> list[Predictor]:
    """Reject what Seldon would reject (or silently misroute), naming the offending field."""
    predictors = list(predictors)
    if not predictors:
        raise ValueError("predictors: at least one predictor is required")
    seen: set[str] = set()
    for i, p in enumerate(predictors):
        if not _DNS_LABEL.match(p.name) or len(p.name) > 63:
            raise ValueError(f"predictors[{i}].name: {p.name!r} is not a DNS-1123 label")
        if p.name in seen:
            raise ValueError(f"predictors[{i}].name: {p.name!r} is used twice")
        seen.add(p.name)
        if not p.model_uri:
            raise ValueError(f"predictors[{i}].modelUri: must not be empty")
        if not isinstance(p.traffic, int) or not 0 <= p.traffic <= 100:
            raise ValueError(f"predictors[{i}].traffic: {p.traffic!r} is outside 0..100")
    live = [p for p in predictors if not p.shadow]
    if not live:
        raise ValueError("predictors: at least one predictor must not be a shadow")
    total = sum(p.traffic for p in live)
    if total != 100:
        raise ValueError(f"predictors.traffic: non-shadow weights must sum to 100, got {total}")
    return predictors


def desired_seldon_deployment(
    name: str,
    namespace: str,
    predictors: list[Predictor],
    *,
    owner: dict[str, Any],
    replicas: int = 1,
    resources: dict[str, Any] | None = None,
    implementation: str = "SKLEARN_SERVER",
    image: str | None = None,
    labels: dict[str, str] | None = None,
    logger_url: str | None = None,
    env_secret: str | None = None,
) -> dict[str, Any]:
    """The SeldonDeployment serving `predictors`, owned (controller=true) by `owner`.

    With `env_secret` (the object store's Secret, in the format of Seldon's rclone storage initializer),
    every predictor whose model is on an object store names it as `graph.envSecretRefName`, so the
    initializer can download the model; models on a path or file:// need no credentials.

    With `logger_url` (the monitor's log endpoint), every predictor's graph gets Seldon's payload
    logger, `logger: {url, mode: all}`: requests and responses go to the monitor as CloudEvents.
    The URL carries the predictor's model URI (and `shadow=true` for a shadow) as query parameters,
    which the monitor reads for what Seldon's events do not say."""
    predictors = validate_predictors(predictors)
    for key in ("apiVersion", "kind", "name", "uid"):
        if not owner.get(key):
            raise ValueError(f"owner.{key}: required for the owner reference")
    if not isinstance(replicas, int) or replicas < 0:
        raise ValueError(f"replicas: {replicas!r} must be a non-negative integer")
    resources = _clean_resources(resources)
    return {
        "apiVersion": SELDON_API_VERSION,
        "kind": SELDON_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(sorted((labels or {}).items())),
            "ownerReferences": [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["name"],
                    "uid": owner["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "name": name,
            "protocol": "v2",
            "predictors": [
                _predictor(p, replicas=replicas, resources=resources, implementation=implementation, image=image,
                           logger_url=logger_url, env_secret=env_secret)
                for p in predictors
            ],
        },
    }


def _clean_resources(resources: dict[str, Any] | None) -> dict[str, dict[str, str]] | None:
    if not resources:
        return None
    unknown = set(resources) - {"requests", "limits"}
    if unknown:
        raise ValueError(f"resources: unknown keys {sorted(unknown)} (only requests, limits)")
    cleaned = {k: {r: str(v) for r, v in resources[k].items()} for k in ("requests", "limits") if resources.get(k)}
    return cleaned or None


def _predictor(
    p: Predictor, *, replicas: int, resources: dict | None, implementation: str, image: str | None,
    logger_url: str | None = None, env_secret: str | None = None,
) -> dict[str, Any]:
    graph: dict[str, Any] = {"name": GRAPH_NODE, "modelUri": p.model_uri}
    if env_secret and p.model_uri.startswith(OBJECT_STORE_SCHEMES):
        graph["envSecretRefName"] = env_secret
    if image:
        graph["type"] = "MODEL"
    else:
        graph["implementation"] = implementation
    if logger_url:
        query = {"modeluri": p.model_uri, **({"shadow": "true"} if p.shadow else {})}
        separator = "&" if "?" in logger_url else "?"
        encoded = "&".join(f"{k}={_percent_encode(v)}" for k, v in query.items())
        graph["logger"] = {"url": logger_url + separator + encoded, "mode": "all"}
    out: dict[str, Any] = {"name": p.name, "replicas": replicas, "graph": graph}
    container: dict[str, Any] = {"name": GRAPH_NODE}
    if image:
        container["image"] = image
    if resources:
        container["resources"] = copy.deepcopy(resources)
    if len(container) > 1:
        out["componentSpecs"] = [{"spec": {"containers": [container]}}]
    if p.shadow:
        out["shadow"] = True
        if 0 < p.traffic < 100:  # partial mirroring; a shadow without traffic gets every request
            out["traffic"] = p.traffic
    else:
        out["traffic"] = p.traffic
    return out


def _percent_encode(value: str) -> str:
    """A query value with everything but RFC 3986 unreserved characters percent-encoded (no urllib: pure)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-._~") else "".join(f"%{b:02X}" for b in c.encode())
                   for c in value)


def predictor_weights(sdep: dict[str, Any]) -> dict[str, int]:
    """Traffic share per non-shadow predictor of a SeldonDeployment."""
    return {
        p["name"]: int(p.get("traffic", 0))
        for p in sdep.get("spec", {}).get("predictors", [])
        if not p.get("shadow")
    }


def deployment_status_key(sdep_name: str, predictor: str) -> str:
    """The key Seldon uses in status.deploymentStatus for a predictor's single-container Deployment."""
    return f"{sdep_name}-{predictor}-0-{GRAPH_NODE}"


def seldon_status(sdep: dict[str, Any] | None) -> SeldonStatus | None:
    """Read what Seldon (or our local controller) reported into our status shape."""
    if not sdep:
        return None
    name = sdep.get("metadata", {}).get("name")
    status = sdep.get("status") or {}
    predictor_names = [p.get("name", "") for p in sdep.get("spec", {}).get("predictors", [])]
    replicas: dict[str, int] = {}
    why: dict[str, str] = {}
    for key, dep in (status.get("deploymentStatus") or {}).items():
        predictor = _predictor_of(key, name or "", predictor_names)
        if predictor is None:
            continue
        replicas[predictor] = replicas.get(predictor, 0) + int(dep.get("availableReplicas") or 0)
        if dep.get("description"):
            why[predictor] = str(dep["description"])
    unavailable = {p: why.get(p) or str(status.get("description") or "no available replica")
                   for p, n in replicas.items() if n == 0}
    return SeldonStatus(
        name=name,
        state=status.get("state"),
        address=(status.get("address") or {}).get("url"),
        description=status.get("description"),
        replicas=replicas,
        unavailable=unavailable,
    )


def _predictor_of(key: str, sdep_name: str, predictor_names: list[str]) -> str | None:
    """Seldon keys deploymentStatus by Deployment name `<sdep>-<predictor>-<i>-<containers>`."""
    if key in predictor_names:
        return key
    rest = key[len(sdep_name) + 1:] if key.startswith(f"{sdep_name}-") else key
    matches = [p for p in predictor_names if rest == p or rest.startswith(f"{p}-")]
    return max(matches, key=len) if matches else None


def is_available(status: SeldonStatus | None) -> bool:
    return status is not None and status.state == STATE_AVAILABLE


def lost_predictors(previous: SeldonStatus | None, now: SeldonStatus | None, serving: list[str],
                    still_reported: bool) -> dict[str, str]:
    """Serving predictors that were available and no longer are (a crashed or unreachable model
    server), with Seldon's reason; `still_reported` keeps those already reported until they recover.
    A predictor that has not come up yet is not lost: the rollout's progress deadline covers it."""
    if now is None:
        return {}
    before = previous.replicas if previous else {}
    flagged = previous.unavailable if (previous and still_reported) else {}
    return {p: why for p, why in now.unavailable.items()
            if p in serving and (before.get(p, 0) > 0 or p in flagged)}
