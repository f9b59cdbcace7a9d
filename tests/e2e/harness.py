"""Harness for end-to-end tests: a real dev cluster per test module: embedded API, the operator as a `kopf run` subprocess,
the local Seldon stand-in with real MLServer processes. Tests drive it like a user does: through
the kubeconfig (kubernetes client, kubectl) and HTTP to the served address."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import requests
from kubernetes import client, config
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_components import modeldir

from mlops_operator.devcluster import DevCluster, dev_cluster
from mlops_operator.serving.faulty import FAULTY_IMPLEMENTATION

GROUP, VERSION = "mlops.dev", "v1alpha1"

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst concavity"]
FRAME = load_breast_cancer(as_frame=True).frame[FEATURES + ["target"]]
ROWS = FRAME[FEATURES].to_dict("records")


def make_model(path: Path, *, flip: bool = False, failure_rate: float | None = None) -> str:
    """A real model directory as the pipeline's register step writes it; flip inverts the labels so
    answers tell the models apart; failure_rate serves it with the faulty runtime."""
    y = 1 - FRAME["target"] if flip else FRAME["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(FRAME[FEATURES], y)
    modeldir.write(path, model, name="model", version=path.name, features=[{"name": f, "type": "float"} for f in FEATURES],
                   target="target", task="classification", train_frame=FRAME, metrics={})
    if failure_rate is not None:
        settings = json.loads((path / "model-settings.json").read_text())
        settings["implementation"] = FAULTY_IMPLEMENTATION
        settings.setdefault("parameters", {})["extra"] = {"failure_rate": failure_rate}
        (path / "model-settings.json").write_text(json.dumps(settings))
    return path.resolve().as_uri()


class ThreadedDevCluster:
    """Runs `dev_cluster` on its own event loop in a thread, so tests can be plain sync code."""

    def __init__(self, workdir: Path, examples: Path | None, env: dict[str, str] | None = None):
        self.workdir, self.examples, self.env = workdir, examples, env
        self.cluster: DevCluster | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as e:  # surfaced to the test thread
            self._error = e
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with dev_cluster(self.workdir, interval=1.0, examples=self.examples, env=self.env) as cluster:
            self.cluster = cluster
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> "ThreadedDevCluster":
        self._thread.start()
        self._ready.wait(120)
        if self._error or self.cluster is None:
            raise RuntimeError(f"dev cluster did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    @property
    def kubeconfig(self) -> Path:
        assert self.cluster is not None
        return self.cluster.kubeconfig

    def operator_log(self) -> str:
        return (self.workdir / "operator.log").read_text()


class Kube:
    """The few calls the tests make, through the kubeconfig like kubectl."""

    def __init__(self, kubeconfig: Path, namespace: str = "default"):
        self.api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))
        self.core = client.CoreV1Api(self.api.api_client)
        self.namespace = namespace

    def create(self, plural: str, body: dict) -> dict:
        return self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)

    def get(self, plural: str, name: str, group: str = GROUP, version: str = VERSION) -> dict:
        return self.api.get_namespaced_custom_object(group, version, self.namespace, plural, name)

    def list(self, plural: str) -> list[dict]:
        return self.api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural)["items"]

    def patch(self, plural: str, name: str, body: dict) -> dict:
        return self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name, body)

    def events_for(self, name: str) -> list[tuple[str, str, str]]:
        events = self.core.list_namespaced_event(self.namespace).items
        return [(e.type, e.reason, e.message) for e in events if e.involved_object.name == name]

    def wait(self, plural: str, name: str, check: Callable[[dict], Any], timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        obj: dict = {}
        while time.monotonic() < deadline:
            try:
                obj = self.get(plural, name)
                if check(obj):
                    return obj
            except client.ApiException as e:
                if e.status != 404:
                    raise
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout}s waiting for {plural}/{name}: {what}; "
                             f"status: {obj.get('status')}")


def status(obj: dict) -> dict:
    return obj.get("status") or {}


def send(url: str, rows: list[dict], *, http: requests.Session) -> list[tuple[str | None, int, Any]]:
    """One V2 request per row; (predictor that answered, status code, outputs)."""
    results = []
    for row in rows:
        body = {"parameters": {"content_type": "pd"},
                "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [float(v)]}
                           for k, v in row.items()]}
        resp = http.post(f"{url}/v2/models/model/infer", json=body, timeout=30)
        outputs = resp.json().get("outputs") if resp.status_code == 200 else None
        results.append((resp.headers.get("x-seldon-predictor"), resp.status_code, outputs))
    return results


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "[ERROR" in line or "Traceback" in line]
