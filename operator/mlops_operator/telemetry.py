"""The operator's own Prometheus metrics (names match the chart's alerts and dashboard)."""
from __future__ import annotations

import asyncio

from collections import Counter as Tally

from prometheus_client import REGISTRY, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily

ROLLBACKS = Counter("mlops_modeldeployment_rollbacks", "Releases rolled back.", ["namespace", "name"])
RUNS_COMPLETED = Counter("mlops_trainingrun_completed", "TrainingRuns finished, by phase.",
                         ["namespace", "project", "phase"])
HANDLER_ERRORS = Counter("mlops_handler_errors", "Handler invocations that raised.", ["namespace", "kind"])
CANARY_WEIGHT = Gauge("mlops_modeldeployment_canary_weight", "Traffic percentage of the candidate.",
                      ["namespace", "name"])
QUALITY_ESTIMATE = Gauge("mlops_modeldeployment_quality_estimate",
                         "Quality metric over labelled requests per arm of a release decided on quality.",
                         ["namespace", "name", "arm", "metric"])
PREDICTOR_AVAILABLE = Gauge("mlops_modeldeployment_predictor_available",
                            "1 while a serving predictor has an available replica, 0 once it was lost.",
                            ["namespace", "name", "predictor"])
RECONCILE_LOOPS = Gauge("mlops_reconcile_loops", "Objects with a running reconcile loop.", ["kind"])
CHAMPION_METRIC = Gauge("mlops_mlproject_champion_metric", "The champion's value of the project metric.",
                        ["namespace", "project", "metric"])

DRIFT_STATISTIC = Gauge("mlops_mlproject_drift_statistic",
                        "Drift statistics of the top features of a project's deployments (latest window).",
                        ["namespace", "project", "deployment", "feature", "statistic"])
ERROR_SLICE = Gauge("mlops_mlproject_error_slice",
                    "Live error (error rate, or mean absolute error for regression) of the feature bins where a "
                    "project's served models fail most, from labelled records.",
                    ["namespace", "project", "deployment", "predictor", "feature", "bin"])
DRIFTED = Gauge("mlops_mlproject_drifted", "1 while the project's Drifted condition is True, 0 when False.",
                ["namespace", "project"])
DRIFT_RETRAINS = Counter("mlops_mlproject_drift_retrains", "TrainingRuns started on drift.", ["namespace", "project"])
SECONDS_TO_DRIFT = Gauge("mlops_mlproject_seconds_to_drift",
                         "Staleness: seconds from a model version's promotion to its first drift alarm.",
                         ["namespace", "project", "model_version"])
SECONDS_TO_QUALITY = Gauge("mlops_mlproject_seconds_to_quality_below_minimum",
                           "Staleness: seconds from a model version's promotion until its live metric failed the "
                           "project's minimum.", ["namespace", "project", "model_version"])
QUALITY_INTERVAL = Gauge("mlops_modeldeployment_quality_interval",
                         "Always-valid (1 - alpha) interval of arm - stable on the quality metric, per arm of a "
                         "release decided on quality (bound lo or hi).", ["namespace", "name", "arm", "metric", "bound"])
SHADOW_DELTA = Gauge("mlops_modeldeployment_shadow_delta",
                     "How a shadow's answers differ from stable's on the same requests (disagreement, "
                     "disagreement_upper, ks, js, mean_abs_diff).", ["namespace", "name", "statistic"])
QUALITY_ROLLBACKS = Counter("mlops_modeldeployment_quality_rollbacks",
                            "Releases rolled back on quality: worse with confidence, no verdict by maxDuration, or a "
                            "shadow beyond its bounds.", ["namespace", "name", "metric"])


class TaskCollector:
    """asyncio tasks of the operator's loop, in total and by coroutine, so that a leak names itself."""

    loop: asyncio.AbstractEventLoop | None = None

    def collect(self):
        if self.loop is None:
            return
        names = Tally(_coroutine_name(t) for t in list(asyncio.all_tasks(self.loop)))
        yield GaugeMetricFamily("mlops_operator_asyncio_tasks", "asyncio tasks in the operator (a leak shows as growth).",
                                value=sum(names.values()))
        by_coroutine = GaugeMetricFamily("mlops_operator_asyncio_tasks_by_coroutine",
                                         "asyncio tasks in the operator by the coroutine they run.", labels=["coroutine"])
        for name, count in sorted(names.items()):
            by_coroutine.add_metric([name], count)
        yield by_coroutine


def _coroutine_name(task: asyncio.Task) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)


TASKS = TaskCollector()
REGISTRY.register(TASKS)


def serve(port: int) -> None:
    """Expose /metrics; port 0 means off (the embedded dev cluster runs several operators' worth)."""
    TASKS.loop = asyncio.get_running_loop()
    if port:
        start_http_server(port)
