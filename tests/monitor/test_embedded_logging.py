"""Acceptance in the embedded default, without the operator: a SeldonDeployment built with the
monitor's logger URL, realised by the local controller's Realiser (real MLServer processes behind
the splitter), live traffic through a 50/50 canary, labels for half of the requests, and an
export that a real training run (kfp.local) trains on."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from serving_fixtures import FEATURES, TARGET, StatusRecorder, breast_cancer_frame, v2_request, write_model_dir  # noqa: E402
from test_splitter_logging import wait_for  # noqa: E402
from training_helpers import wait_until_finished  # noqa: E402

from mlops_components import modeldir  # noqa: E402
from mlops_operator.api.mlproject import MLProjectSpec  # noqa: E402
from mlops_operator.decisions.seldon import Predictor, desired_seldon_deployment  # noqa: E402
from mlops_operator.serving.realiser import Realiser  # noqa: E402
from mlops_operator.serving.splitter import REQUEST_ID_HEADER  # noqa: E402
from mlops_operator.training.backend import TrainingRequest  # noqa: E402
from mlops_operator.training.local_backend import LocalBackend  # noqa: E402

pytestmark = pytest.mark.e2e
NS, NAME = "team-a", "cancer"
N = 80


def _model(path: Path, flip: bool = False) -> str:
    write_model_dir(path, flip_labels=flip)
    frame = breast_cancer_frame()
    features = [{"name": f, "type": "float"} for f in FEATURES]
    (path / "reference.json").write_text(json.dumps(modeldir.reference(frame, features)))
    return path.resolve().as_uri()


@pytest.fixture
async def realiser(monitor, tmp_path):
    """The local controller's Realiser with the monitor's token, as the dev cluster configures it."""
    recorder = StatusRecorder()
    r = Realiser(recorder, work_dir=tmp_path / "work", seed=7, ready_deadline=120,
                 log_token_file=str(monitor.token_file))
    r.recorder = recorder  # type: ignore[attr-defined]
    try:
        yield r
    finally:
        await r.stop()


async def test_canary_traffic_is_recorded_labelled_and_exported_for_training(realiser, monitor, tmp_path):
    stable, candidate = _model(tmp_path / "m1"), _model(tmp_path / "m2", flip=True)
    owner = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "name": NAME, "uid": "u-1"}
    sdep = desired_seldon_deployment(NAME, NS, [Predictor("stable", stable, 50), Predictor("candidate", candidate, 50)],
                                     owner=owner, logger_url=monitor.url + "/log")
    await realiser.apply(sdep)
    status = await realiser.recorder.wait_state(NS, NAME, {"Available", "Failed"})
    assert status["state"] == "Available", status
    frame = breast_cancer_frame()
    answered: dict[str, tuple[str, int]] = {}  # request id -> (predictor, true label)
    async with aiohttp.ClientSession() as session:
        for i in range(N):
            row = frame.iloc[i]
            async with session.post(f"{status['address']['url']}/v2/models/model/infer",
                                    json=v2_request(row[FEATURES].to_dict())) as resp:
                assert resp.status == 200
                answered[resp.headers[REQUEST_ID_HEADER]] = (resp.headers["x-seldon-predictor"], int(row[TARGET]))
    arms = {p for p, _ in answered.values()}
    assert arms == {"stable", "candidate"}
    await wait_for(lambda: sum(p["responses"] for p in monitor.summary(deployment=NAME)["predictors"].values()) == N,
                   what="every response recorded")

    half = dict(list(answered.items())[: N // 2])
    resp = await asyncio.to_thread(monitor.post_json, "/feedback",
                                   [{"requestId": rid, "label": y} for rid, (_, y) in half.items()])
    assert resp.status_code == 200 and resp.json()["unknown"] == []
    summary = monitor.summary(deployment=NAME)["predictors"]
    for arm in ("stable", "candidate"):
        assert summary[arm]["records"] == sum(p == arm for p, _ in answered.values())
        assert summary[arm]["labelled"] == sum(p == arm for p, _ in half.values())
    # the real model is mostly right, the flipped one mostly wrong
    assert summary["stable"]["correct"] > summary["stable"]["incorrect"]
    assert summary["candidate"]["correct"] < summary["candidate"]["incorrect"]

    text = await asyncio.to_thread(lambda: __import__("requests").get(monitor.url + "/metrics", timeout=10).text)
    assert 'feature="mean radius"' in text  # binned with the model version's training reference

    export = await asyncio.to_thread(monitor.post_json, "/export",
                                     {"namespace": NS, "deployment": NAME, "target": TARGET})
    assert export.status_code == 201, export.text
    snapshot = export.json()
    assert snapshot["rows"] == N // 2

    project = MLProjectSpec.model_validate({
        "dataset": {"uri": snapshot["uri"], "version": "live-1", "target": TARGET, "format": "csv",
                    "schema": {"columns": [{"name": f, "type": "float"} for f in FEATURES]
                               + [{"name": TARGET, "type": "int", "min": 0, "max": 1}]}},
        "candidates": [{"name": "logreg", "estimator": "LogisticRegression", "hyperparameters": {"max_iter": [2000]}}],
        "metric": {"name": "roc_auc", "minimum": 0.5},
        "training": {"testSize": 0.3, "bootstrapSamples": 20},
    })
    backend = LocalBackend(data_dir=tmp_path / "training")
    try:
        request = TrainingRequest(namespace=NS, run_name="live-1", project=project)
        outcome = await wait_until_finished(backend, request, await backend.submit(request))
    finally:
        backend.terminate()
    assert outcome.state == "Succeeded", outcome.message
    assert outcome.status["lineage"]["datasetDigest"] == snapshot["digest"]
