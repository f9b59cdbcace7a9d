"""Small real models in the serving layout (model.joblib, model-settings.json, signature.json).

Shared by tests/serving and tests/metrics (imported by path from their conftest files).
Models are trained on scikit-learn's bundled breast_cancer data, a few columns only, so
training takes milliseconds and predictions are real.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst concavity"]
TARGET = "target"


def breast_cancer_frame() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame[FEATURES + [TARGET]]


def write_model_dir(path: Path, *, flip_labels: bool = False) -> Path:
    """Train a scaler + logistic regression pipeline and write the serving layout at `path`.

    flip_labels trains on inverted labels: a model that disagrees with the normal one on
    almost every row, so tests can tell whose answer a client got.
    """
    frame = breast_cancer_frame()
    y = 1 - frame[TARGET] if flip_labels else frame[TARGET]
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    pipeline.fit(frame[FEATURES], y)
    path.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, path / "model.joblib")
    (path / "model-settings.json").write_text(json.dumps({
        "name": "model",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
    }, indent=2))
    (path / "signature.json").write_text(json.dumps({
        "features": [{"name": c, "type": "float64"} for c in FEATURES],
        "target": TARGET,
        "classes": [0, 1],
    }, indent=2))
    return path


def seldon_deployment(namespace: str, name: str, *predictors) -> dict:
    """The operator's SeldonDeployment for these predictors, as if no owner: there is no
    ModelDeployment in these tests, and the garbage collector deletes objects of absent owners."""
    from mlops_operator.decisions.seldon import desired_seldon_deployment

    owner = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "name": name, "uid": "u-1"}
    obj = desired_seldon_deployment(name, namespace, list(predictors), owner=owner, replicas=1, resources=None,
                                    labels={})
    del obj["metadata"]["ownerReferences"]
    return obj


def group_alive(pid: int) -> bool:
    """Whether any process of the process group led by `pid` still exists."""
    import os

    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_until(condition, timeout: float = 30.0, what: str = "condition"):
    """Poll `condition` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def copy_model_dir(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def v2_request(row: dict[str, Any]) -> dict[str, Any]:
    """An Open Inference Protocol request for one row, one input per column, decoded as pandas."""
    return {
        "parameters": {"content_type": "pd"},
        "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [float(v)]} for k, v in row.items()],
    }


class StatusRecorder:
    """An on_status callback keeping every status the realiser reported, per deployment."""

    def __init__(self) -> None:
        self.history: dict[tuple[str, str], list[dict]] = {}

    async def __call__(self, namespace: str, name: str, status: dict) -> None:
        self.history.setdefault((namespace, name), []).append(status)

    def last(self, namespace: str, name: str) -> dict | None:
        items = self.history.get((namespace, name))
        return items[-1] if items else None

    async def wait_state(self, namespace: str, name: str, states: set[str], timeout: float = 180.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.last(namespace, name)
            if last and last.get("state") in states:
                return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"{namespace}/{name} never reached {states}; last status: {self.last(namespace, name)}")


# -- pytest fixtures (imported by the conftest files of tests/serving and tests/metrics) -------

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    """stable: a real classifier; flipped: one that disagrees on almost every row;
    faulty: the stable model answering 500 on every second request; broken: an unloadable artifact."""
    from mlops_operator.serving.faulty import make_faulty

    root = tmp_path_factory.mktemp("models")
    stable = write_model_dir(root / "stable")
    flipped = write_model_dir(root / "flipped", flip_labels=True)
    faulty = make_faulty(copy_model_dir(stable, root / "faulty"), failure_rate=0.5)
    broken = copy_model_dir(stable, root / "broken")
    (broken / "model.joblib").write_bytes(b"this is not a joblib file")
    return {"stable": stable, "flipped": flipped, "faulty": faulty, "broken": broken}


@pytest.fixture
async def realiser(tmp_path):
    """A Realiser recording statuses (`.recorder`), always stopped at the end of the test."""
    from mlops_operator.serving.realiser import Realiser

    recorder = StatusRecorder()
    r = Realiser(recorder, work_dir=tmp_path / "work", seed=7, ready_deadline=120)
    r.recorder = recorder  # type: ignore[attr-defined]
    try:
        yield r
    finally:
        await r.stop()
