"""The operator's own Prometheus metrics (names match the chart's alerts and dashboard)."""
from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable, TypeVar

from prometheus_client import Counter, Gauge, start_http_server

ROLLBACKS = Counter("mlops_modeldeployment_rollbacks", "Releases rolled back.", ["namespace", "name"])
RUNS_COMPLETED = Counter("mlops_trainingrun_completed", "TrainingRuns finished, by phase.",
                         ["namespace", "project", "phase"])
HANDLER_ERRORS = Counter("mlops_handler_errors", "Handler invocations that raised.", ["namespace", "kind"])
CANARY_WEIGHT = Gauge("mlops_modeldeployment_canary_weight", "Traffic percentage of the candidate.",
                      ["namespace", "name"])
CHAMPION_METRIC = Gauge("mlops_mlproject_champion_metric", "The champion's value of the project metric.",
                        ["namespace", "project", "metric"])

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def counts_errors(kind: str) -> Callable[[F], F]:
    """Count a handler's exceptions (kopf still logs and retries them)."""

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return await handler(*args, **kwargs)
            except Exception:
                HANDLER_ERRORS.labels(kwargs.get("namespace") or "", kind).inc()
                raise

        return counted  # type: ignore[return-value]

    return wrap


def serve(port: int) -> None:
    """Expose /metrics; port 0 means off (the embedded dev cluster runs several operators' worth)."""
    if port:
        start_http_server(port)
