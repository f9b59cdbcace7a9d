"""Metric names and labels, in one place so the splitter, the providers and scrape configs agree.

Local splitter (`mlops_operator.serving.splitter`), exposed on `<splitter>/metrics`:

  mlops_splitter_requests_total{namespace, deployment, predictor, role}       counter
  mlops_splitter_errors_total{namespace, deployment, predictor, role}         counter (5xx or no answer)
  mlops_splitter_request_duration_seconds_bucket{..., le}                     histogram (+ _sum, _count)
  mlops_splitter_log_dropped_total{namespace, deployment, reason}             counter (payload log events dropped)
  mlops_splitter_rejected_total{namespace, deployment, predictor, reason}     counter (bad payloads answered 400)

`role` is `primary` for requests a client got the answer of and `shadow` for mirrored copies.
Series are created at zero when a predictor is configured, so Prometheus `increase()` counts
the first requests too.

Seldon Core v1 on a cluster (the service orchestrator / executor), per predictor:

  seldon_api_executor_server_requests_seconds_bucket{deployment_name, predictor_name, code, ...}
  seldon_api_executor_server_requests_seconds_count{...}

with the namespace added by the scrape config (label name configurable, `namespace` by default).
"""
from __future__ import annotations

from dataclasses import dataclass

SPLITTER_REQUESTS = "mlops_splitter_requests"  # prometheus_client appends _total
SPLITTER_ERRORS = "mlops_splitter_errors"
SPLITTER_LATENCY = "mlops_splitter_request_duration_seconds"
SPLITTER_LABELS = ("namespace", "deployment", "predictor", "role")
#: Inference CloudEvents the splitter could not hand to the monitor (reason: queue-full, send-failed, invalid).
SPLITTER_LOG_DROPPED = "mlops_splitter_log_dropped"
SPLITTER_LOG_LABELS = ("namespace", "deployment", "reason")
#: Inference requests answered 4xx before reaching the model (a payload that does not fit its signature.json).
SPLITTER_REJECTED = "mlops_splitter_rejected"
SPLITTER_REJECTED_LABELS = ("namespace", "deployment", "predictor", "reason")
#: The monitor's series (`mlops_operator.monitor.metrics`) the providers read for records and labels.
MONITOR_RECORDS = "mlops_monitor_records_total"
MONITOR_LABELLED = "mlops_monitor_labelled_total"
MONITOR_LABELS = ("namespace", "deployment", "predictor")
ROLE_PRIMARY = "primary"
ROLE_SHADOW = "shadow"

#: Upper bounds (seconds) of the latency histogram: fine below 1 s where p95 limits live.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2,
    0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
)

SELDON_EXECUTOR_HISTOGRAM = "seldon_api_executor_server_requests_seconds"


@dataclass(frozen=True)
class MetricFlavour:
    """How one metric family names requests, errors and latency for a predictor (PromQL side)."""

    requests: str  # a counter of all requests
    latency_bucket: str  # histogram buckets in seconds
    deployment_label: str
    predictor_label: str
    namespace_label: str
    errors: str | None = None  # a counter of errors, or None to filter `requests` by code
    error_code_label: str | None = None
    extra_matchers: str = ""  # e.g. role="primary"

    def selector(self, namespace: str, deployment: str, predictor: str, extra: str = "") -> str:
        parts = [
            f'{self.namespace_label}="{_escape(namespace)}"',
            f'{self.deployment_label}="{_escape(deployment)}"',
            f'{self.predictor_label}="{_escape(predictor)}"',
        ]
        parts += [m for m in (self.extra_matchers, extra) if m]
        return "{" + ",".join(parts) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def splitter_flavour(role: str | None = None) -> MetricFlavour:
    """Our splitter's series; `role=None` counts primary and shadow requests together."""
    return MetricFlavour(
        requests=f"{SPLITTER_REQUESTS}_total",
        errors=f"{SPLITTER_ERRORS}_total",
        latency_bucket=f"{SPLITTER_LATENCY}_bucket",
        deployment_label="deployment",
        predictor_label="predictor",
        namespace_label="namespace",
        extra_matchers=f'role="{role}"' if role else "",
    )


def seldon_flavour(namespace_label: str = "namespace") -> MetricFlavour:
    """Seldon Core v1 executor series; errors are requests with a 5xx code."""
    return MetricFlavour(
        requests=f"{SELDON_EXECUTOR_HISTOGRAM}_count",
        latency_bucket=f"{SELDON_EXECUTOR_HISTOGRAM}_bucket",
        deployment_label="deployment_name",
        predictor_label="predictor_name",
        namespace_label=namespace_label,
        error_code_label="code",
    )
