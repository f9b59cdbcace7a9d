"""The operator's own Prometheus metrics (names match the chart's alerts and dashboard)."""
from __future__ import annotations

import asyncio

from prometheus_client import Counter, Gauge, start_http_server

ROLLBACKS = Counter("mlops_modeldeployment_rollbacks", "Releases rolled back.", ["namespace", "name"])
RUNS_COMPLETED = Counter("mlops_trainingrun_completed", "TrainingRuns finished, by phase.",
                         ["namespace", "project", "phase"])
HANDLER_ERRORS = Counter("mlops_handler_errors", "Handler invocations that raised.", ["namespace", "kind"])
CANARY_WEIGHT = Gauge("mlops_modeldeployment_canary_weight", "Traffic percentage of the candidate.",
                      ["namespace", "name"])
RECONCILE_LOOPS = Gauge("mlops_reconcile_loops", "Objects with a running reconcile loop.", ["kind"])
TASKS = Gauge("mlops_operator_asyncio_tasks", "asyncio tasks in the operator (a leak shows as growth).")
CHAMPION_METRIC = Gauge("mlops_mlproject_champion_metric", "The champion's value of the project metric.",
                        ["namespace", "project", "metric"])

def serve(port: int) -> None:
    """Expose /metrics; port 0 means off (the embedded dev cluster runs several operators' worth)."""
    loop = asyncio.get_running_loop()
    TASKS.set_function(lambda: len(asyncio.all_tasks(loop)))
    if port:
        start_http_server(port)
