"""Inference CloudEvents in binary mode, as Seldon Core v1's executor payload logger sends them.

Seldon (executor/logger/worker.go) POSTs the V2 request or response JSON as the body with the
attributes as `Ce-*` headers: Ce-Id, Ce-Specversion, Ce-Source, Ce-Type
(io.seldon.serving.inference.request|response) and the extensions Ce-Requestid, Ce-Modelid (graph
node), Ce-Inferenceservicename (SeldonDeployment), Ce-Namespace, Ce-Endpoint (predictor),
Ce-Protocol. Seldon has nothing for the model version, its URI or a shadow flag, so we add our own
extensions (Ce-Modelversion, Ce-Modeluri, Ce-Shadow); on a cluster they are absent and the monitor
copes. Keeping one module for both sides (the splitter builds, the monitor parses) keeps them agreed.

The embedded splitter sends the same events in CloudEvents' batched content mode
(`application/cloudevents-batch+json`: a JSON array of structured events with the same attribute
names, the payload in `data`): one POST per batch instead of per event is what keeps logging
cheap for the serving path. The monitor takes both modes.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

TYPE_REQUEST = "io.seldon.serving.inference.request"
TYPE_RESPONSE = "io.seldon.serving.inference.response"
KINDS = {TYPE_REQUEST: "request", TYPE_RESPONSE: "response"}

#: Header names (aiohttp matches them case-insensitively, as HTTP does).
ID, SPECVERSION, SOURCE, TYPE = "Ce-Id", "Ce-Specversion", "Ce-Source", "Ce-Type"
REQUEST_ID, MODEL_ID, DEPLOYMENT, NAMESPACE, ENDPOINT = (
    "Ce-Requestid", "Ce-Modelid", "Ce-Inferenceservicename", "Ce-Namespace", "Ce-Endpoint")
TIME = "Ce-Time"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
#: Our extensions (lowercase alphanumeric names, as the CloudEvents spec requires).
MODEL_VERSION, MODEL_URI, SHADOW = "Ce-Modelversion", "Ce-Modeluri", "Ce-Shadow"


_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class EventError(ValueError):
    """A CloudEvent the monitor refuses; `field` names what was wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Event:
    """One logged request or response of one predictor."""

    kind: str  # "request" | "response"
    request_id: str
    namespace: str
    deployment: str
    predictor: str
    model_id: str
    model_version: str
    model_uri: str
    shadow: bool
    time: float
    body: Any  # the parsed V2 JSON

    def key(self) -> tuple[str, str, str, str]:
        return (self.namespace, self.deployment, self.predictor, self.request_id)


def headers(kind: str, *, request_id: str, namespace: str, deployment: str, predictor: str,
            model_id: str = "model", model_version: str = "", model_uri: str = "", shadow: bool = False,
            source: str = "", at: float | None = None) -> dict[str, str]:
    """The binary-mode headers of one event (the splitter's side)."""
    ce_type = TYPE_REQUEST if kind == "request" else TYPE_RESPONSE
    out = {
        ID: str(uuid.uuid4()), SPECVERSION: "1.0", TYPE: ce_type,
        SOURCE: source or f"http://{deployment}-{predictor}.{namespace}/",
        REQUEST_ID: request_id, MODEL_ID: model_id, DEPLOYMENT: deployment, NAMESPACE: namespace,
        ENDPOINT: predictor, TIME: _rfc3339(at if at is not None else time.time()),
        "Content-Type": "application/json",
    }
    if model_version:
        out[MODEL_VERSION] = model_version
    if model_uri:
        out[MODEL_URI] = model_uri
    if shadow:
        out[SHADOW] = "true"
    return out


#: Query parameters of the log URL that stand in for our extensions when an event lacks them: the
#: operator writes them into each predictor's `graph.logger.url`, so events from Seldon's executor
#: (which knows nothing of them) still say which model version answered and whether it was a shadow.
QUERY_DEFAULTS = {"modeluri": MODEL_URI, "modelversion": MODEL_VERSION, "shadow": SHADOW}


def with_query_defaults(hdrs: Mapping[str, str], query: Mapping[str, str]) -> Mapping[str, str]:
    missing = {header: query[param] for param, header in QUERY_DEFAULTS.items()
               if param in query and not hdrs.get(header)}
    if not missing:
        return hdrs
    merged = {k: v for k, v in hdrs.items()}
    merged.update(missing)
    return merged


def parse(hdrs: Mapping[str, str], body: Any, now: float | None = None) -> Event:
    """Validate the headers of one event; raises EventError naming the header."""
    kind = KINDS.get(hdrs.get(TYPE, ""))
    if kind is None:
        raise EventError(TYPE, f"must be {TYPE_REQUEST} or {TYPE_RESPONSE}, got {hdrs.get(TYPE)!r}")
    values = {}
    for name in (REQUEST_ID, NAMESPACE, DEPLOYMENT, ENDPOINT):
        value = (hdrs.get(name) or "").strip()
        if not value:
            raise EventError(name, "required")
        if len(value) > 253:
            raise EventError(name, "longer than 253 characters")
        if name != REQUEST_ID and not _NAME.match(value):
            raise EventError(name, f"{value!r} is not a Kubernetes name (letters, digits, '-', '.', '_')")
        values[name] = value
    shadow = (hdrs.get(SHADOW) or "false").strip().lower()
    if shadow not in ("true", "false", "1", "0"):
        raise EventError(SHADOW, f"must be true or false, got {shadow!r}")
    if not isinstance(body, dict):
        raise EventError("body", "must be a JSON object (a V2 inference request or response)")
    return Event(
        kind=kind, request_id=values[REQUEST_ID], namespace=values[NAMESPACE],
        deployment=values[DEPLOYMENT], predictor=values[ENDPOINT],
        model_id=hdrs.get(MODEL_ID) or "", model_version=hdrs.get(MODEL_VERSION) or "",
        model_uri=hdrs.get(MODEL_URI) or "", shadow=shadow in ("true", "1"),
        time=now if now is not None else time.time(), body=body,
    )


def _rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"


def structured(hdrs: dict[str, str], body: bytes) -> bytes:
    """One event in structured JSON form, from its binary-mode headers and (JSON) body bytes."""
    attrs = {name[3:].lower(): value for name, value in hdrs.items() if name.startswith("Ce-")}
    attrs["datacontenttype"] = "application/json"
    return json.dumps(attrs, separators=(",", ":"))[:-1].encode() + b',"data":' + body + b"}"


def parse_structured(event: Any, now: float | None = None, query: Mapping[str, str] | None = None) -> Event:
    """A structured event (an element of a batch), validated like a binary-mode one."""
    if not isinstance(event, dict):
        raise EventError("body", "a batch must be a JSON array of CloudEvent objects")
    hdrs = {"Ce-" + str(k).capitalize(): str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in event.items() if k != "data" and isinstance(v, (str, bool, int, float))}
    return parse(with_query_defaults(hdrs, query or {}), event.get("data"), now)
