"""Live drift in the monitor: windows of bin counts per predictor and model version, /drift, metrics, quality."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from mlops_components import modeldir
from mlops_operator.monitor.cloudevents import Event
from mlops_operator.monitor.drift import DriftTracker, load_model_files
from monitor_process import MonitorProcess, new_id, v2_request

FEATURES = [{"name": f"f{i}", "type": "float"} for i in range(5)] + [{"name": "colour", "type": "category"}]
SCHEMA = [{"name": f"f{i}", "type": "float", "min": -10, "max": 10} for i in range(5)] + [
    {"name": "colour", "type": "category", "categories": ["red", "blue"]}]


def _model(tmp_path: Path, with_schema: bool = True) -> Path:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({f"f{i}": rng.normal(size=2000) for i in range(5)})
    train["colour"] = rng.choice(["red", "blue"], size=2000)
    directory = tmp_path / "model"
    directory.mkdir(exist_ok=True)
    (directory / "reference.json").write_text(json.dumps(modeldir.reference(train, FEATURES)))
    signature = modeldir.signature(FEATURES, "y", "classification", [0, 1])
    if with_schema:
        signature["schema"] = SCHEMA
    (directory / "signature.json").write_text(json.dumps(signature))
    return directory


def _request(rng, shift: float = 0.0, rows: int = 1) -> dict:
    data = {f"f{i}": list(rng.normal(size=rows) + (shift if i == 3 else 0.0)) for i in range(5)}
    data["colour"] = list(rng.choice(["red", "blue"], size=rows))
    return {"inputs": [{"name": k, "shape": [rows], "datatype": "FP64", "data": [v.item() if hasattr(v, "item") else v
                                                                                  for v in vs]} for k, vs in data.items()]}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _event(kind, body, uri, rid, predictor="stable"):
    return Event(kind, rid, "ns", "dep", predictor, "m", "v1", uri, False, 0.0, body)


def test_undrifted_windows_do_not_drift_and_a_shifted_feature_is_named(tmp_path: Path):
    uri = _model(tmp_path).as_uri()
    clock = Clock()
    tracker = DriftTracker(window_size=300, window_seconds=60, clock=clock)
    rng = np.random.default_rng(1)
    for i in range(300):
        tracker.observe(_event("request", _request(rng), uri, f"a{i}"))
    report = tracker.report("ns", "dep", min_rows=100)["predictors"]["stable"]
    assert report["input"]["verdict"] == "NoDrift", report
    assert report["input"]["window"]["requests"] == 300
    for i in range(300):
        tracker.observe(_event("request", _request(rng, shift=1.0), uri, f"b{i}"))
    report = tracker.report("ns", "dep", min_rows=100)["predictors"]["stable"]
    assert report["input"]["verdict"] == "Drifted", report
    assert report["input"]["drifted"] == ["f3"]
    top = report["input"]["features"][0]
    assert top["feature"] == "f3" and top["psi"] > 0.2 and top["adjustedP"] < 0.05
    assert report["windows"] == 2


def test_time_windows_close_without_traffic_and_quality_is_counted(tmp_path: Path):
    uri = _model(tmp_path).as_uri()
    clock = Clock()
    tracker = DriftTracker(window_size=10_000, window_seconds=5, clock=clock)
    rng = np.random.default_rng(2)
    for i in range(150):
        tracker.observe(_event("request", _request(rng), uri, f"a{i}"))
    assert tracker.report("ns", "dep")["predictors"]["stable"]["input"]["verdict"] == "Inconclusive"
    clock.now = 6
    tracker.tick()
    assert tracker.report("ns", "dep")["predictors"]["stable"]["input"]["verdict"] == "NoDrift"
    bad = {"inputs": [{"name": "f0", "data": ["x"]}, {"name": "f1", "data": [99.0]}, {"name": "colour", "data": ["green"]},
                      {"name": "extra", "data": [1]}]}
    tracker.observe(_event("request", bad, uri, "bad"))
    tracker.observe(_event("response", {"error": "Input f0: expected FP64"}, uri, "bad"))
    report = tracker.report("ns", "dep")["predictors"]["stable"]
    quality = report["quality"]["features"]
    assert quality["f0"]["wrongType"] == 1 and quality["f1"]["outOfRange"] == 1
    assert quality["colour"]["unknownCategory"] == 1 and quality["f2"]["missing"] == 1
    assert report["quality"]["unknownInputs"] == 1 and report["unanswered"] == 1


def test_prediction_drift_per_version(tmp_path: Path):
    directory = tmp_path / "m"
    directory.mkdir()
    rng = np.random.default_rng(3)
    train = pd.DataFrame({"x": rng.normal(size=1000)})
    doc = modeldir.reference(train, [{"name": "x", "type": "float"}])
    doc["predictions"] = {"rows": 1000, "features": {"class": modeldir.column_reference(
        pd.Series(rng.choice(["0", "1"], size=1000, p=[0.7, 0.3])), "category")}}
    (directory / "reference.json").write_text(json.dumps(doc))
    tracker = DriftTracker(window_size=400, window_seconds=None)
    uri = directory.as_uri()
    for i in range(400):
        answer = {"outputs": [{"name": "predict", "datatype": "INT64", "shape": [1], "data": [int(rng.random() < 0.8)]}]}
        tracker.observe(_event("response", answer, uri, f"r{i}"))
    pred = tracker.report("ns", "dep")["predictors"]["stable"]["prediction"]
    assert pred["verdict"] == "Drifted" and pred["drifted"] == ["class"]
    assert load_model_files(uri).schema is None  # no signature: no quality checks, drift still works


def test_drift_endpoint_and_metrics_of_a_running_monitor(tmp_path: Path, token_file: Path):
    uri = _model(tmp_path).resolve().as_uri()
    m = MonitorProcess(tmp_path / "data", token_file, "--drift-window", "200", "--drift-seconds", "0").start()
    try:
        rng = np.random.default_rng(4)
        session = requests.Session()
        for i in range(200):
            resp = m.log_event("request", _request(rng, shift=2.0), request_id=new_id(), deployment="dep",
                               namespace="ns", model_uri=uri, model_version="v1", session=session)
            assert resp.status_code == 201, resp.text
        resp = requests.get(m.url + "/drift", params={"namespace": "ns", "deployment": "dep", "threshold": "0.2",
                                                      "minRows": "100"}, headers=m.auth(), timeout=30)
        assert resp.status_code == 200, resp.text
        stable = resp.json()["predictors"]["stable"]
        assert stable["input"]["verdict"] == "Drifted" and stable["input"]["drifted"] == ["f3"]
        assert requests.get(m.url + "/drift", params={"namespace": "ns"}, headers=m.auth(), timeout=30).status_code == 400
        assert requests.get(m.url + "/drift", params={"namespace": "ns", "deployment": "dep"},
                            timeout=30).status_code == 401
        metrics = requests.get(m.url + "/metrics", timeout=30).text
        line = next(ln for ln in metrics.splitlines() if ln.startswith("mlops_monitor_drift_psi{") and 'feature="f3"' in ln)
        assert float(line.rsplit(" ", 1)[1]) > 0.2
        m.log_event("request", v2_request({"f0": "oops"}), request_id=new_id(), deployment="dep", namespace="ns",
                    model_uri=uri, model_version="v1")
        metrics = requests.get(m.url + "/metrics", timeout=30).text
        assert any(ln.startswith("mlops_monitor_quality_bad_values_total{") and 'feature="f0"' in ln
                   and 'kind="wrong_type"' in ln and ln.endswith(" 1.0") for ln in metrics.splitlines()), metrics
    finally:
        m.kill()


def test_error_slices_show_where_the_model_fails(tmp_path: Path, token_file: Path):
    uri = _model(tmp_path).resolve().as_uri()
    m = MonitorProcess(tmp_path / "data", token_file).start()
    try:
        rng = np.random.default_rng(5)
        session = requests.Session()
        labels = []
        for i in range(400):
            rid = new_id()
            body = _request(rng)
            x3 = body["inputs"][3]["data"][0]
            answer = {"outputs": [{"name": "predict", "datatype": "INT64", "shape": [1], "data": [1]}]}
            for kind, payload in (("request", body), ("response", answer)):
                assert m.log_event(kind, payload, request_id=rid, deployment="dep", namespace="ns", model_uri=uri,
                                   session=session).status_code == 201
            labels.append({"requestId": rid, "label": 0 if x3 > 1.0 else 1})  # wrong exactly where x3 > 1
        assert m.post_json("/feedback", labels).status_code == 200
        resp = requests.get(m.url + "/slices", params={"namespace": "ns", "deployment": "dep", "minRows": "10"},
                            headers=m.auth(), timeout=30)
        assert resp.status_code == 200, resp.text
        stable = resp.json()["predictors"]["stable"]
        assert stable["rows"] == 400 and stable["measure"] == "error rate" and 0.05 < stable["error"] < 0.3
        worst = stable["slices"][0]
        assert worst["feature"] == "f3" and worst["error"] == 1.0
        assert float(worst["bin"].strip("(]").split(",")[0]) >= 0.9  # a bin above x3 = 1
    finally:
        m.kill()
