"""The monitor's quality sums for releases decided on logLoss and rmse: per predictor, from real answers.

A real scikit-learn classifier answers with its class probabilities (as MLServer's SKLearn runtime
does when asked for predict_proba); the monitor's log-loss sums must equal scikit-learn's log_loss,
keep doing so after a restart (they are rebuilt from Parquet), and a regression model's Σe⁴ must
be the fourth powers of its errors.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from mlops_components import modeldir
from mlops_operator.monitor import payloads
from monitor_process import MonitorProcess, new_id, v2_request

FEATURES = [{"name": "x", "type": "float"}, {"name": "colour", "type": "category"}]
CLASSES = ["cat", "dog", "eel"]


def test_log_loss_of_one_row_clips_and_finds_the_label_column():
    assert payloads.log_loss([0.2, 0.8], 1, None) == pytest.approx(-math.log(0.8))  # integer label = column
    assert payloads.log_loss([0.2, 0.8], "dog", ("cat", "dog")) == pytest.approx(-math.log(0.8))
    assert payloads.log_loss([1.0, 0.0], 1, None) == pytest.approx(-math.log(1e-15))  # clipped, not infinite
    assert payloads.log_loss([0.5, 0.5], "eel", ("cat", "dog")) == pytest.approx(-math.log(1e-15))  # unknown class
    assert payloads.log_loss([0.5, 0.5], "eel", None) is None  # no signature: cannot tell the column
    assert payloads.log_loss([0.5, 0.5], 2, None) is None
    # one column is a binary classifier's positive-class probability; flat data is cut by its shape
    one = {"outputs": [{"name": "predict_proba", "shape": [2, 1], "datatype": "FP64", "data": [0.9, 0.3]}]}
    assert payloads.probabilities(one) == [[pytest.approx(0.1), 0.9], [pytest.approx(0.7), 0.3]]
    flat = {"outputs": [{"name": "predict", "data": [1]},
                        {"name": "predict_proba", "shape": [2, 3], "data": [0.1, 0.2, 0.7, 0.3, 0.3, 0.4]}]}
    assert payloads.probabilities(flat) == [[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]]
    assert payloads.probabilities({"outputs": [{"name": "predict_proba", "data": ["a"]}]}) is None
    assert payloads.probabilities({"outputs": [{"name": "predict", "data": [1]}]}) is None


def _classifier(tmp_path: Path):
    rng = np.random.default_rng(7)
    train = pd.DataFrame({"x": rng.normal(size=300), "colour": rng.choice(["red", "blue"], size=300)})
    y = np.where(train["x"] < -0.5, "cat", np.where(train["x"] < 0.5, "dog", "eel"))
    model = LogisticRegression().fit(train[["x"]], y)
    assert list(model.classes_) == CLASSES
    directory = tmp_path / "model-v1"
    directory.mkdir()
    (directory / "reference.json").write_text(json.dumps(modeldir.reference(train, FEATURES)))
    (directory / "signature.json").write_text(json.dumps(modeldir.signature(FEATURES, "y", "classification", CLASSES)))
    return model, directory.resolve().as_uri()


def test_log_loss_sums_per_predictor_match_scikit_learn_and_survive_a_restart(tmp_path: Path, token_file: Path):
    model, uri = _classifier(tmp_path)
    rng = np.random.default_rng(11)
    xs = rng.normal(size=40)
    labels = list(rng.choice(CLASSES, size=40))  # noisy labels: some confident mistakes
    proba = model.predict_proba(pd.DataFrame({"x": xs}))
    ids = [new_id() for _ in xs]
    m = MonitorProcess(tmp_path / "data", token_file, "--compact-interval", "0.5").start()
    try:
        for rid, x, row in zip(ids, xs, proba):
            response = {"outputs": [
                {"name": "predict", "shape": [1], "datatype": "BYTES", "data": [CLASSES[int(np.argmax(row))]]},
                {"name": "predict_proba", "shape": [1, 3], "datatype": "FP64", "data": [float(v) for v in row]}]}
            for kind, body in (("request", v2_request({"x": float(x), "colour": "red"})), ("response", response)):
                assert m.log_event(kind, body, request_id=rid, model_uri=uri, model_version="v1").status_code == 201
            # the same requests at a predictor whose answers carry no probabilities
            plain = {"outputs": [{"name": "predict", "shape": [1], "datatype": "BYTES", "data": ["dog"]}]}
            for kind, body in (("request", v2_request({"x": float(x)})), ("response", plain)):
                assert m.log_event(kind, body, request_id=rid, predictor="plain", model_uri=uri).status_code == 201
        labelled = 30
        resp = m.post_json("/feedback", [{"requestId": rid, "label": y} for rid, y in zip(ids[:labelled], labels)])
        assert resp.status_code == 200, resp.text

        expected = log_loss(labels[:labelled], proba[:labelled], labels=CLASSES) * labelled
        losses = -np.log(np.clip(proba[np.arange(labelled), [CLASSES.index(y) for y in labels[:labelled]]], 1e-15, 1))
        stable = m.summary()["predictors"]["stable"]
        assert stable["logLossRows"] == labelled and stable["rows"] == labelled
        assert stable["logLossSum"] == pytest.approx(expected, rel=1e-9)
        assert stable["logLossSquaredSum"] == pytest.approx(float((losses ** 2).sum()), rel=1e-9)
        plain = m.summary()["predictors"]["plain"]
        assert plain["rows"] == labelled and plain["logLossRows"] == 0 and plain["logLossSum"] == 0

        text = requests.get(m.url + "/metrics", timeout=10).text
        assert f'mlops_monitor_log_loss_rows_total{{deployment="iris",namespace="team-a",predictor="stable"}} {labelled}.0' in text
        assert 'mlops_monitor_log_loss_sum{deployment="iris",namespace="team-a",predictor="stable"}' in text

        # a corrected label moves its row's loss; a restart rebuilds the sums from Parquet
        flipped = next(c for c in CLASSES if c != labels[0])
        m.post_json("/feedback", [{"requestId": ids[0], "label": flipped}])
        labels[0] = flipped
        expected = log_loss(labels[:labelled], proba[:labelled], labels=CLASSES) * labelled
        assert m.summary()["predictors"]["stable"]["logLossSum"] == pytest.approx(expected, rel=1e-9)
        assert m.stop() == 0
        m = MonitorProcess(tmp_path / "data", token_file).start()
        again = m.summary()["predictors"]["stable"]
        assert again["logLossRows"] == labelled and again["logLossSum"] == pytest.approx(expected, rel=1e-9)
    finally:
        m.kill()


def test_regression_reports_the_fourth_power_sum_for_rmse(monitor: MonitorProcess):
    ids = [new_id() for _ in range(3)]
    for rid, pred in zip(ids, (2.5, 4.0, 10.25)):
        for kind, body in (("request", v2_request({"x": 1.0})),
                           ("response", {"outputs": [{"name": "predict", "datatype": "FP64", "shape": [1], "data": [pred]}]})):
            assert monitor.log_event(kind, body, request_id=rid).status_code == 201
    monitor.post_json("/feedback", [{"requestId": ids[0], "label": 2.0}, {"requestId": ids[1], "label": 5.0},
                                    {"requestId": ids[2], "label": 10.0}])
    stable = monitor.summary()["predictors"]["stable"]
    assert stable["squaredErrorSum"] == pytest.approx(0.25 + 1.0 + 0.0625)
    assert stable["quarticErrorSum"] == pytest.approx(0.5 ** 4 + 1.0 + 0.25 ** 4)
    text = requests.get(monitor.url + "/metrics", timeout=10).text
    assert 'mlops_monitor_quartic_error_sum{deployment="iris",namespace="team-a",predictor="stable"} 1.06640625' in text
