"""The closed loop on data that changes over time (what `make demo` shows), asserted from the API objects.

A synthetic stream with a covariate and concept shift, generated offline with numpy: before the
shift, x0..x3 ~ N(0, 1) and y = [x0 + x1 > 0]; after it, x2 moves by +2 standard deviations and
y = [x0 - x1 > 0]. The project trains on pre-shift rows; its champion is served with a canary
strategy; every answer gets its label through the monitor's /feedback.

1. training-distribution traffic: `Drifted` False (NoDrift), no drift retrain;
2. shifted traffic: `Drifted` True naming x2 with its statistics; exactly ONE TrainingRun with
   trigger drift, its evidence (window, features, statistics) in its status, trained on the
   monitor's export of the recorded live inputs with their labels (a snapshot with a digest);
3. the operator is SIGKILLed and restarted while drift persists: still one drift run;
4. the retrain is Blessed against the old champion on the same fresh held-out rows, released by
   canary and promoted; shifted traffic on the new version: `Drifted` clears, and no other
   drift run was started (cooldown, one per episode).
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests

from mlops_operator.devcluster import start_operator
from mlops_operator.monitor import client as monitor_client

from .harness import Kube, ThreadedDevCluster, error_lines, status

pytestmark = pytest.mark.e2e

TRAINING = 600
WINDOW = 150  # requests per monitor drift window (by count)
PROJECT = "drift-demo"
FEATURES = ["x0", "x1", "x2", "x3"]


def stream(n: int, shifted: bool, seed: int) -> pd.DataFrame:
    """n rows of the synthetic stream before or after the shift."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    if shifted:
        x[:, 2] += 2.0
    signal_ = x[:, 0] - x[:, 1] if shifted else x[:, 0] + x[:, 1]
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["target"] = (signal_ + rng.normal(scale=0.3, size=n) > 0).astype(int)
    return frame


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("MLOPS_MONITOR_DRIFT_WINDOW", "MLOPS_MONITOR_DRIFT_SECONDS")}
    os.environ.update(MLOPS_MONITOR_DRIFT_WINDOW=str(WINDOW), MLOPS_MONITOR_DRIFT_SECONDS="0")
    try:
        with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None) as c:
            yield c
            assert not error_lines(c.operator_log()), error_lines(c.operator_log())
        assert c.cluster.operator.returncode is not None, "the restarted operator outlived its dev cluster"
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


def condition(obj: dict, type_: str) -> dict:
    return next((c for c in status(obj).get("conditions", []) if c["type"] == type_), {})


def drift_runs(kube: Kube) -> list[dict]:
    return [r for r in kube.list("trainingruns")
            if r["spec"]["projectRef"]["name"] == PROJECT and r["spec"].get("trigger") == "drift"]


class Client:
    """Sends rows to the served address and their labels to the monitor, like a real client does."""

    def __init__(self, cluster, kube: Kube):
        self.kube, self.monitor = kube, cluster.cluster.monitor_url
        self.token = cluster.cluster.monitor_token_file.read_text().strip()
        self.http = requests.Session()

    def send(self, frame: pd.DataFrame) -> int:
        url = status(self.kube.get("modeldeployments", PROJECT))["seldon"]["address"]
        labels, ok = [], 0
        for row in frame.to_dict("records"):
            body = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [float(row[f])]} for f in FEATURES]}
            resp = self.http.post(f"{url}/v2/models/model/infer", json=body, timeout=30)
            if resp.status_code == 200:
                ok += 1
                labels.append({"requestId": resp.headers["x-request-id"], "label": int(row["target"])})
        resp = self.http.post(f"{self.monitor}/feedback", json=labels, timeout=30,
                              headers={"Authorization": f"Bearer {self.token}"})
        assert resp.status_code == 200, resp.text
        return ok


class Background(threading.Thread):
    """Shifted traffic with labels until stopped (the canary's analysis needs requests at every step)."""

    def __init__(self, client: Client):
        super().__init__(daemon=True)
        self.client, self.stopped, self.sent = client, threading.Event(), 0

    def run(self) -> None:
        seed = 1000
        while not self.stopped.is_set():
            seed += 1
            try:
                self.sent += self.client.send(stream(25, True, seed))
            except (requests.RequestException, KeyError, TypeError):
                time.sleep(0.5)


def restart_operator(cluster) -> None:
    """SIGKILL the operator's process group and start it again, as test_crash_points does."""
    c = cluster.cluster
    proc = c.operator
    os.killpg(proc.pid, signal.SIGKILL)

    async def again():
        await proc.wait()
        env = {monitor_client.ENV_URL: c.monitor_url, monitor_client.ENV_TOKEN_FILE: str(c.monitor_token_file)}
        c.operator = await start_operator(cluster.kubeconfig, cluster.workdir, 1.0, cluster.workdir / "operator.log", env)

    asyncio.run_coroutine_threadsafe(again(), cluster._loop).result(60)


def step(text: str) -> None:
    print(f"\n[demo {time.strftime('%H:%M:%S')}] {text}", flush=True)


def test_drift_raises_one_retrain_whose_model_is_released_and_clears_the_drift(cluster, kube, tmp_path):
    data = tmp_path / "train.csv"
    stream(1500, False, seed=1).to_csv(data, index=False)
    kube.create("mlprojects", {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": PROJECT},
                "spec": {
                    "dataset": {"uri": str(data), "version": "v1", "target": "target", "schema": {"columns": [
                        *({"name": f, "type": "float"} for f in FEATURES), {"name": "target", "type": "int"}]}},
                    "candidates": [{"name": "lr", "estimator": "LogisticRegression"}],
                    "metric": {"name": "roc_auc", "minimum": 0.7},
                    "training": {"bootstrapSamples": 20},
                    "drift": {"enabled": True, "statistic": "psi", "threshold": 0.2, "window": 100, "retrain": True,
                              "retrainData": "live", "minLabelledRows": 100, "cooldownSeconds": 3600}}})
    kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                "metadata": {"name": PROJECT}, "spec": {
                    "projectRef": {"name": PROJECT}, "model": {"champion": True},
                    "strategy": {"type": "canary", "canary": {"steps": [50, 100], "interval": "2s"},
                                 "analysis": {"minRequests": 10, "failureLimit": 3, "maxErrorRate": 0.05,
                                              "maxLatencyMs": 5000}}}})
    step("training v1 on pre-shift data")
    first = kube.wait("trainingruns", f"{PROJECT}-v1", lambda o: status(o).get("phase") in ("Blessed", "Rejected", "Failed"),
                      TRAINING, "v1 trained")
    assert status(first)["phase"] == "Blessed", status(first)
    md = kube.wait("modeldeployments", PROJECT, lambda o: status(o).get("phase") == "Serving", 180, "v1 served")
    old_predictor = status(md)["stable"]["predictor"]
    client = Client(cluster, kube)

    step("traffic from the training distribution")
    assert client.send(stream(WINDOW + 10, False, seed=2)) == WINDOW + 10
    project = kube.wait("mlprojects", PROJECT, lambda o: condition(o, "Drifted").get("reason") == "NoDrift", 60,
                        "no drift on training-distribution traffic")
    assert condition(project, "Drifted")["status"] == "False"
    assert condition(project, "DataQuality")["status"] == "True"
    assert drift_runs(kube) == []

    step("shifted traffic (x2 +2 sd, concept x0 - x1)")
    assert client.send(stream(WINDOW + 10, True, seed=3)) == WINDOW + 10
    project = kube.wait("mlprojects", PROJECT, lambda o: condition(o, "Drifted").get("status") == "True", 60, "Drifted")
    drifted = condition(project, "Drifted")
    print(drifted["message"])
    assert drifted["reason"] == "DriftDetected" and "x2 (psi " in drifted["message"]
    assert status(project)["drift"]["features"][0]["feature"] == "x2"
    md = kube.wait("modeldeployments", PROJECT, lambda o: condition(o, "Drifted").get("status") == "True", 60,
                   "the deployment Drifted too")
    assert "x2 (psi " in condition(md, "Drifted")["message"]
    deadline = time.monotonic() + 60
    while not drift_runs(kube):
        assert time.monotonic() < deadline, status(kube.get("mlprojects", PROJECT)).get("drift")
        time.sleep(0.5)
    runs = drift_runs(kube)
    assert len(runs) == 1
    run_name = runs[0]["metadata"]["name"]
    run = kube.wait("trainingruns", run_name, lambda o: (status(o).get("drift") or {}).get("features"), 30,
                    "drift evidence in the run's status")
    evidence = status(run)["drift"]
    assert evidence["features"][0]["feature"] == "x2" and evidence["features"][0]["psi"] >= 0.2
    assert evidence["window"]["requests"] == WINDOW and evidence["episode"] == status(project)["drift"]["episode"]
    snapshot = run["spec"]["dataset"]
    assert snapshot["uri"].startswith("file://") and snapshot["digest"].startswith("sha256:") and snapshot["rows"] >= 100
    step(f"one drift retrain: {run_name} on {snapshot['uri']} ({snapshot['rows']} rows)")

    step("restart the operator while drift persists")
    restart_operator(cluster)
    assert client.send(stream(WINDOW + 10, True, seed=4)) == WINDOW + 10
    time.sleep(8)  # several reconciles of the restarted operator on a drifted window
    assert [r["metadata"]["name"] for r in drift_runs(kube)] == [run_name]

    run = kube.wait("trainingruns", run_name, lambda o: status(o).get("phase") in ("Blessed", "Rejected", "Failed"),
                    TRAINING, "drift retrain finished")
    assert status(run)["phase"] == "Blessed", status(run)
    assert status(run)["comparison"]["champion"] == f"{PROJECT}-v1"
    assert status(run)["lineage"]["datasetDigest"]
    step(f"{run_name} Blessed: {status(run)['comparison']['reason']}")
    # where the old model fails on labelled shifted traffic: the concept moved with x0 and x1, not x2
    project = kube.wait("mlprojects", PROJECT, lambda o: any(
        s["deployment"] == PROJECT and s["rows"] >= 20 for s in (status(o)["drift"].get("errorSlices") or [])),
        90, "error slices in the project's status")
    worst = status(project)["drift"]["errorSlices"]
    step(f"error slices: {[(s['feature'], s['bin'], s['error']) for s in worst]}")
    assert worst[0]["feature"] in ("x0", "x1") and all(s["error"] > s["overall"] for s in worst)

    background = Background(client)
    background.start()
    try:
        md = kube.wait("modeldeployments", PROJECT, lambda o: status(o).get("phase") == "Serving"
                       and (status(o).get("stable") or {}).get("trainingRun") == run_name, 300,
                       "the retrained model released by canary and promoted")
        reasons = [r for _, r, _ in kube.events_for(PROJECT)]
        step(f"promoted: {status(md)['lastDecision']}")
        project = kube.wait("mlprojects", PROJECT, lambda o: condition(o, "Drifted").get("reason") == "NoDrift", 180,
                            "drift cleared on the new model version")
    finally:
        background.stopped.set()
        background.join(30)
    step(f"drift cleared: {condition(project, 'Drifted')['message']}")
    md = kube.wait("modeldeployments", PROJECT, lambda o: condition(o, "Drifted").get("reason") == "NoDrift", 120,
                   "the deployment's drift cleared on its new stable version")
    assert [r["metadata"]["name"] for r in drift_runs(kube)] == [run_name]
    reasons = [r for _, r, _ in kube.events_for(PROJECT)]
    assert {"DriftDetected", "RetrainStarted", "DriftCleared"} <= set(reasons), reasons
    staleness = status(project)["drift"]["staleness"]
    assert staleness[0]["secondsToDrift"] >= 0

    # live quality recovers: the labelled answers of the new version vs the old one's (monitor /summary)
    arms = client.http.get(f"{client.monitor}/summary", params={"namespace": "default", "deployment": PROJECT},
                           headers={"Authorization": f"Bearer {client.token}"}, timeout=30).json()["predictors"]
    accuracy = {p: a["correct"] / max(1, a["correct"] + a["incorrect"]) for p, a in arms.items()}
    new_predictor = status(md)["stable"]["predictor"]
    step(f"live accuracy: {old_predictor} {accuracy[old_predictor]:.2f} -> {new_predictor} {accuracy[new_predictor]:.2f}")
    assert accuracy[new_predictor] >= 0.85 and accuracy[new_predictor] > accuracy[old_predictor] + 0.1
