"""A model server killed with SIGKILL is started again, and the operator says so while it lasts.

The local Seldon stand-in restarts a crashed MLServer with backoff as a ReplicaSet would; the
operator names the lost predictor and the cause in the Ready condition and a Warning Event, and
exposes it as a metric; clients see errors only while the server is down.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from .harness import ROWS, Kube, ThreadedDevCluster, error_lines, make_model, send, status
from .test_deletion import free_port, metric

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    port = free_port()
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None,
                            env={"MLOPS_METRICS_PORT": str(port)}) as c:
        c.metrics_url = f"http://127.0.0.1:{port}/metrics"
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


def ready(obj: dict) -> dict:
    return next((c for c in status(obj).get("conditions", []) if c["type"] == "Ready"), {})


def test_a_killed_model_server_comes_back_and_the_failure_is_named_while_it_lasts(cluster, tmp_path):
    kube = Kube(cluster.kubeconfig)
    kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                                     "metadata": {"name": "fragile"},
                                     "spec": {"model": {"uri": make_model(tmp_path / "m")},
                                              "strategy": {"type": "direct"}}})
    md = kube.wait("modeldeployments", "fragile", lambda o: status(o).get("phase") == "Serving", 120, "serving")
    predictor = status(md)["stable"]["predictor"]
    url = status(md)["seldon"]["address"]
    labels = f'name="fragile",namespace="default",predictor="{predictor}"'
    assert metric(cluster, "mlops_modeldeployment_predictor_available", labels) == 1

    answers: list[tuple[float, int]] = []
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                answers.extend((time.time(), code) for _, code, _ in send(url, ROWS[:2], http=http))
                time.sleep(0.02)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    time.sleep(1)
    (pid,) = cluster.cluster.controller.realiser.get("default", "fragile").pids().values()
    killed_at = time.time()
    os.killpg(pid, signal.SIGKILL)

    down = kube.wait("modeldeployments", "fragile", lambda o: ready(o).get("reason") == "PredictorUnavailable",
                     30, "the lost predictor named")
    assert predictor in ready(down)["message"] and "exited with code -9" in ready(down)["message"]
    assert ready(down)["status"] == "False"
    assert metric(cluster, "mlops_modeldeployment_predictor_available", labels) == 0
    assert any(t == "Warning" and r == "PredictorUnavailable" and predictor in m
               for t, r, m in kube.events_for("fragile"))

    back = kube.wait("modeldeployments", "fragile", lambda o: ready(o).get("status") == "True", 60, "recovered")
    recovered_at = time.time()
    new_pid = cluster.cluster.controller.realiser.get("default", "fragile").pids()[predictor]
    assert new_pid != pid and not status(back)["seldon"].get("unavailable")
    assert any(r == "PredictorRecovered" for _, r, _ in kube.events_for("fragile"))
    assert metric(cluster, "mlops_modeldeployment_predictor_available", labels) == 1
    time.sleep(1)
    stop.set()
    thread.join(30)

    failures = [t for t, code in answers if code != 200]
    assert failures, "the kill was not seen by clients at all"
    assert all(killed_at <= t <= recovered_at for t in failures), "errors outside the window the server was down"
    assert all(code == 200 for t, code in answers if t > recovered_at)
    assert max(failures) - killed_at < 30  # running again within seconds
