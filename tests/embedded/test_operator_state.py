"""The real operator (our handlers, kopf's default registry) started and stopped twice in one process.

Each run builds its state at startup from the environment of that moment, keeps it in kopf's memo
(where reconciles read it), and closes it at cleanup: the second run sees none of the first.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import kopf
import kubernetes.config.kube_config
import pytest

import mlops_operator.handlers  # noqa: F401  (registers the handlers in kopf's default registry)
from mlops_operator import kube
from mlops_operator.handlers.config import GC_THRESHOLDS
from mlops_operator.embedded import EmbeddedAPIServer
from mlops_operator.handlers.state import MEMO_KEY, OperatorState
from mlops_operator.metrics.executor import ExecutorScrapeMetricsProvider
from mlops_operator.metrics.scrape import ScrapeMetricsProvider

SELDON_CRD = Path(mlops_operator.handlers.__file__).parents[1] / "serving" / "seldondeployment-crd.yaml"
MONITOR = "http://127.0.0.1:9"  # nothing answers there: the monitor is only configured, never reached
EXECUTORS = "http://{service}.{namespace}.svc.cluster.local:8000/prometheus"


async def _eventually(check, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.1)
    return value


def _quiet_filters() -> int:
    return sum(type(f).__name__ == "_QuietRoutine" for f in logging.getLogger("kopf.objects").filters)


async def _run(api: EmbeddedAPIServer, check) -> tuple[kopf.Memo, OperatorState]:
    """Start the operator, run `check(state)` while it serves, stop it; the memo and the state it had."""
    memo, stop, ready = kopf.Memo(), asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(kopf.operator(standalone=True, namespaces=["default"], stop_flag=stop,
                                             ready_flag=ready, memo=memo))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        ours = memo[MEMO_KEY]
        await check(ours)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    return memo, ours


def _deployment(api: EmbeddedAPIServer):
    return api.get("mlops.dev/v1alpha1", "ModelDeployment", "iris", "default")


async def test_start_stop_twice_leaves_no_state_behind(api: EmbeddedAPIServer, tmp_path, monkeypatch):
    api.apply_files(SELDON_CRD)
    # kubernetes reads KUBECONFIG when imported: point it at this test's API server, and drop a client
    # an earlier test may have left (cleanup drops ours: the second run must open its own).
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION",
                        str(api.write_kubeconfig(tmp_path / "kubeconfig")))
    await kube.close()
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLOPS_RECONCILE_INTERVAL", "0.5")
    for name in ("MLOPS_MONITOR_URL", "MLOPS_SELDON_METRICS_URL", "MLOPS_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    api.apply({"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
               "metadata": {"name": "iris", "namespace": "default"},
               "spec": {"model": {"uri": "file:///models/iris"}, "strategy": {"type": "direct"}}})

    async def first(ours: OperatorState) -> None:
        assert ours.monitor is None
        assert type(ours.metrics) is ScrapeMetricsProvider  # no executor URL: the local splitter
        await _eventually(lambda: ("default", "iris") in ours.addresses)  # the reconcile wrote into the memo's state
        assert ours.replicas == {("default", "iris"): 1}
        await _eventually(lambda: (_deployment(api).get("status") or {}).get("observedGeneration"))
        assert _deployment(api)["status"].get("feedbackAddress") is None
        assert _quiet_filters() == 1
        assert gc.get_threshold() == GC_THRESHOLDS != thresholds and gc.get_freeze_count() > 0
        await ours.metrics.fetch(api.url + "/api")  # the provider's HTTP session is open now
        nonlocal session
        session = ours.metrics._session
        assert session is not None and not session.closed

    session = None
    thresholds = gc.get_threshold()

    memo1, state1 = await _run(api, first)
    assert MEMO_KEY not in memo1  # cleanup took it out of the memo ...
    assert state1.addresses == {} and state1.replicas == {} and session.closed  # ... and closed it
    assert _quiet_filters() == 0 and not kube.connected()  # no log filter, no API client left
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0  # the collector as it was

    # The second run starts from the environment as it is now, not from anything the first one kept.
    monkeypatch.setenv("MLOPS_MONITOR_URL", MONITOR)
    monkeypatch.setenv("MLOPS_SELDON_METRICS_URL", EXECUTORS)

    async def second(ours: OperatorState) -> None:
        assert ours is not state1 and ours.addresses is not state1.addresses
        assert ours.monitor is not None and ours.monitor.url == MONITOR
        assert isinstance(ours.metrics, ExecutorScrapeMetricsProvider)
        assert ours.metrics._monitor_url == MONITOR  # records and labels from the monitor's /metrics
        await _eventually(lambda: (_deployment(api).get("status") or {}).get("feedbackAddress")
                          == MONITOR + "/feedback")
        sdep = api.get("machinelearning.seldon.io/v1", "SeldonDeployment", "iris", "default")
        assert sdep["spec"]["predictors"][0]["graph"]["logger"]["url"].startswith(MONITOR + "/log")
        assert _quiet_filters() == 1

    memo2, state2 = await _run(api, second)
    assert MEMO_KEY not in memo2 and state2.addresses == {}
    assert _quiet_filters() == 0


async def test_a_reconcile_without_the_operator_state_says_so():
    from mlops_operator.handlers.state import state

    with pytest.raises(RuntimeError, match="startup handler"):
        state(kopf.Memo())


def test_routine_successes_are_not_logged_but_everything_else_is():
    from mlops_operator.handlers.config import _QuietRoutine

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)

    quiet = _QuietRoutine()
    assert not quiet.filter(record(logging.INFO, "Handler 'deployment_deleted' succeeded."))
    assert not quiet.filter(record(logging.INFO, "Timer 'check' succeeded."))
    assert quiet.filter(record(logging.INFO, "Daemon 'deployment_loop' succeeded."))
    assert quiet.filter(record(logging.ERROR, "Handler 'deployment_deleted' failed with an exception."))
    assert quiet.filter(record(logging.INFO, "Handler 'other' succeeded."))
