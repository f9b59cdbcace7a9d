"""Cluster-mode scraping: each predictor's Seldon Core v1 executor, through the predictor's Service.

Seldon Core v1 runs a service orchestrator (the executor, container `seldon-container-engine`) in
every predictor's pod. It serves Prometheus text on its HTTP port (8000) at `/prometheus` (the
Seldon operator's EXECUTOR_SERVER_PORT and EXECUTOR_PROMETHEUS_PATH change both), and records every
request it answers in a histogram:

  seldon_api_executor_server_requests_seconds_{bucket,sum,count}
      {code, deployment_name, method, predictor_name, predictor_version, service[, le]}

`code` is the HTTP status ("200", "500") over REST and the gRPC status name ("OK", "Internal")
over gRPC; `service` is "predictions" for REST inference (every protocol, v2 included) and the full
gRPC method otherwise. Prediction requests answered with a server error count as errors, as in the
PromQL `seldon_flavour()`. The executor's labels carry no namespace: the address (one Service per
predictor and namespace) already selects it.

Seldon names the predictor's Service `<deployment>-<predictor>`, or `seldon-<md5 of that>` past 63
characters (GetPredictorKey); the Service's `http` port is the executor's. A Service balances over
the predictor's pods, so one scrape sees one pod: with more than one replica the counts of different
pods would mix: the resolver then refuses with a clear error (no measurement rather than a wrong one),
and the Prometheus provider (which sums every pod) is the one to use.
"""
from __future__ import annotations

import hashlib
import string
from typing import Awaitable, Callable, Mapping

from prometheus_client.parser import text_string_to_metric_families

from .names import SELDON_EXECUTOR_HISTOGRAM
from .scrape import ScrapeMetricsProvider, Snapshot

#: Where a predictor's executor metrics are, by default (Seldon's defaults, the cluster's default domain).
EXECUTOR_METRICS_URL = "http://{service}.{namespace}.svc.cluster.local:8000/prometheus"
URL_FIELDS = ("service", "namespace", "deployment", "predictor")
PREDICTION_SERVICE = "predictions"  # REST inference, Seldon's PredictionHttpServiceName
GRPC_PREDICTION_METHODS = ("ModelInfer", "Predict")  # v2 / Seldon and TensorFlow protocols
#: gRPC status names of server-side failures (what a 5xx is over REST).
GRPC_SERVER_ERRORS = frozenset({"Unknown", "DeadlineExceeded", "Unimplemented", "Internal", "Unavailable", "DataLoss"})

#: (namespace, SeldonDeployment, predictor) -> URL of that predictor's executor metrics, or None.
PredictorAddressResolver = Callable[[str, str, str], Awaitable[str | None]]


def predictor_service(deployment: str, predictor: str) -> str:
    """The name Seldon Core v1 gives a predictor's Service (its GetPredictorKey without the svc-name annotation)."""
    name = f"{deployment}-{predictor}"
    return name if len(name) <= 63 else "seldon-" + hashlib.md5(name.encode()).hexdigest()


def check_url_template(template: str, setting: str = "MLOPS_SELDON_METRICS_URL") -> str:
    """`template` when it is an http(s) URL whose only fields are URL_FIELDS and that names {service}."""
    if not template.startswith(("http://", "https://")):
        raise ValueError(f"{setting}: {template!r} must be an http:// or https:// URL")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise ValueError(f"{setting}: {template!r} is not a valid template: {e}") from None
    unknown = fields - set(URL_FIELDS)
    if unknown:
        raise ValueError(f"{setting}: unknown fields {sorted(unknown)} in {template!r}; use {list(URL_FIELDS)}")
    if "service" not in fields:
        raise ValueError(f"{setting}: {template!r} must contain {{service}} (each predictor has its own Service)")
    return template


def seldon_service_resolver(template: str = EXECUTOR_METRICS_URL,
                            replicas: Mapping[tuple[str, str], int] | None = None) -> PredictorAddressResolver:
    """A resolver filling `template` with the predictor's Service name, namespace, deployment and predictor.

    `replicas` ({(namespace, deployment): replicas per predictor}, as the reconcile last asked for) turns
    a deployment with more than one replica into a clear error rather than counts mixed from several pods."""
    check_url_template(template)

    async def resolve(namespace: str, deployment: str, predictor: str) -> str | None:
        pods = (replicas or {}).get((namespace, deployment), 1)
        if pods > 1:
            raise LookupError(f"predictor {predictor} of {namespace}/{deployment} has {pods} replicas: a scrape "
                              "through its Service sees one pod at a time; use metrics.provider=prometheus, "
                              "which sums every pod")
        return template.format(service=predictor_service(deployment, predictor), namespace=namespace,
                               deployment=deployment, predictor=predictor)

    return resolve


def is_prediction(service: str) -> bool:
    return service == PREDICTION_SERVICE or service.rsplit("/", 1)[-1] in GRPC_PREDICTION_METHODS


def is_server_error(code: str) -> bool:
    return (len(code) == 3 and code.startswith("5") and code.isdigit()) or code in GRPC_SERVER_ERRORS


def parse_executor_snapshot(text: str, deployment: str, predictor: str, now: float) -> Snapshot:
    """Sum a predictor's prediction requests, server errors and latency buckets out of an executor's exposition."""
    snap = Snapshot(time=now)
    count, bucket = f"{SELDON_EXECUTOR_HISTOGRAM}_count", f"{SELDON_EXECUTOR_HISTOGRAM}_bucket"
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (sample.name not in (count, bucket) or labels.get("deployment_name") != deployment
                    or labels.get("predictor_name") != predictor or not is_prediction(labels.get("service", ""))):
                continue
            if sample.name == count:
                snap.requests += sample.value
                if is_server_error(labels.get("code", "")):
                    snap.errors += sample.value
            else:
                le = float(labels["le"])
                snap.buckets[le] = snap.buckets.get(le, 0.0) + sample.value
    return snap


class ExecutorScrapeMetricsProvider(ScrapeMetricsProvider):
    """MetricsProvider over each predictor's Seldon executor (`/prometheus` behind the predictor's Service)."""

    def __init__(self, resolve_predictor: PredictorAddressResolver, **kwargs):
        super().__init__(_no_splitter, **kwargs)
        self._resolve_predictor = resolve_predictor

    async def snapshot(self, namespace: str, deployment: str, predictor: str, now: float) -> Snapshot:
        url = await self._resolve_predictor(namespace, deployment, predictor)
        if not url:
            raise LookupError(f"predictor {predictor} of SeldonDeployment {namespace}/{deployment} has no address")
        return parse_executor_snapshot(await self.fetch(url), deployment, predictor, now)


async def _no_splitter(namespace: str, name: str) -> str | None:  # pragma: no cover - snapshot() is overridden
    return None
