"""The TrainingRun report: written by the pipeline beside the model, linked from status, a KFP HTML artifact,
and readable: every section and plot present, and visible when headless Chromium renders it."""
import json
import re
import urllib.parse
from pathlib import Path

import pytest
from sklearn.model_selection import train_test_split

from mlops_components import datasets, modeling, training_report
from mlops_operator.api.trainingrun import TrainingRunStatus
from mlops_operator.training.backend import TrainingRequest
from mlops_operator.training.local_backend import LocalBackend
from tests.browser import assert_all_visible, render

from training_helpers import breast_cancer_project, run_to_completion

SECTIONS = ["data", "candidates", "model", "champion"]
SCHEMA = {"columns": [{"name": "mean radius", "type": "float", "min": 0, "max": 50},
                      {"name": "mean texture", "type": "float", "min": 0, "max": 60},
                      {"name": "worst area", "type": "float", "min": 0, "max": 10000},
                      {"name": "target", "type": "int", "min": 0, "max": 1}]}


def _path(uri: str) -> Path:
    assert uri.startswith("file://"), uri
    return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))


def project():
    return breast_cancer_project(
        dataset={"uri": "sklearn:breast_cancer", "version": "v1", "target": "target", "schema": SCHEMA},
        candidates=[{"name": "logreg", "estimator": "LogisticRegression",
                     "hyperparameters": {"C": [0.1, 1.0], "max_iter": [2000]}}])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real trainings: the first model version, then a challenger compared with it as champion."""
    backend = LocalBackend(data_dir=tmp_path_factory.mktemp("report-data"))
    try:
        first = run_to_completion(backend, TrainingRequest(namespace="ml", run_name="cancer-1", project=project()))
        assert first.state == "Succeeded", first.message
        second = run_to_completion(backend, TrainingRequest(
            namespace="ml", run_name="cancer-2", project=project(), champion_run="cancer-1",
            champion_model_uri=first.status["model"]["uri"]))
        assert second.state == "Succeeded", second.message
        yield first, second
    finally:
        backend.terminate()


pytestmark = pytest.mark.e2e


def test_the_report_is_stored_beside_the_model_linked_from_status_and_a_kfp_html_artifact(runs):
    for outcome in runs:
        status = TrainingRunStatus.model_validate(outcome.status)
        report = _path(status.report.uri)
        assert report.name == "report.html" and report.is_file()
        assert report.parent == _path(status.model.uri).parent  # beside the model directory
        (executor,) = (_path(outcome.url) / "pipeline-root").glob("*/report/executor_output.json")
        artifact = json.loads(executor.read_text())["artifacts"]["html_report"]["artifacts"][0]
        assert artifact["metadata"]["reportUri"] == status.report.uri
        kfp_copy = next((_path(outcome.url) / "pipeline-root").glob("*/report/html_report"))
        assert kfp_copy.read_text() == report.read_text()  # what the KFP UI shows is the same page


def test_the_report_holds_every_section_for_a_real_training(runs):
    first, second = runs
    text = _path(second.status["report"]["uri"]).read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in text
    data = text[text.index('<section id="data">'):text.index('<section id="candidates">')]
    for column in ("mean radius", "worst area", "target (target)"):
        assert f"<td>{column}</td>" in data
    assert data.count('alt="distribution of ') == 31  # one plot per column
    assert 'alt="target balance of target"' in data and "Minority class share" in data
    assert "all checks passed" in data and "float, min 0, max 50" in data

    candidates = text[text.index('<section id="candidates">'):text.index('<section id="model">')]
    for c in second.status["candidates"]:
        assert f"C={c['hyperparameters']['C']}, max_iter=2000" in candidates
        assert f"{c['value']:.4f}" in candidates
    model = text[text.index('<section id="model">'):text.index('<section id="champion">')]
    for alt in ("ROC curve", "precision-recall curve", "confusion matrix", "calibration curve",
                "permutation feature importance"):
        assert f'alt="{alt}"' in model, alt
    assert "could not be drawn" not in text

    champion = text[text.index('<section id="champion">'):]
    comparison = second.status["comparison"]
    assert comparison["champion"] == "cancer-1" and comparison["championValue"] is not None
    for number in (comparison["candidateValue"], comparison["championValue"], comparison["differenceLower"],
                   comparison["differenceUpper"]):
        assert f"{number:.4f}" in champion
    assert comparison["decision"] in champion and 'alt="challenger vs champion"' in champion
    first_text = _path(first.status["report"]["uri"]).read_text()
    assert "none (first model version)" in first_text


def test_the_report_renders_in_headless_chromium(runs, tmp_path):
    _, second = runs
    result = render(_path(second.status["report"]["uri"]), "trainingrun-report.png", tmp_path, height=9000)
    assert result["title"] == "TrainingRun cancer-2"
    assert_all_visible(result, SECTIONS)
    alts = [i["alt"] for i in result["images"]]
    for alt in ("ROC curve", "precision-recall curve", "confusion matrix", "calibration curve",
                "permutation feature importance", "challenger vs champion", "distribution of mean radius"):
        assert alt in alts, alt


def test_a_regression_report_has_residual_plots_and_a_broken_panel_does_not_cost_the_page():
    frame = datasets.load("sklearn:diabetes", "csv", "progression")
    train, test = train_test_split(frame, test_size=0.25, random_state=0)
    features = modeling.feature_columns(frame, None, "progression")
    trial = {"id": "ridge-0", "candidate": "ridge", "estimator": "Ridge", "hyperparameters": {}}
    model = modeling.make_pipeline(trial, features, "regression", 0).fit(
        train[[f["name"] for f in features]], train["progression"])
    result = {"trial": "ridge-0", "candidate": "ridge", "estimator": "Ridge", "hyperparameters": {},
              "value": 55.0, "lower": 50.0, "upper": 60.0}
    selection = {"best": result, "candidates": [result],
                 "comparison": {"decision": "Blessed", "reason": "no champion to beat", "metric": "rmse",
                                "candidateValue": 55.0}}
    text = training_report.build(run_name="diabetes-1", dataset_uri="sklearn:diabetes", dataset_version="v1",
                                 frame=frame, test=test, model=model, selection=selection, columns=None,
                                 target="progression", task="regression", metric_name="rmse", seed=0, generated="now")
    assert 'alt="residual plots"' in text and 'alt="permutation feature importance"' in text
    assert 'alt="ROC curve"' not in text and "could not be drawn" not in text

    broken = training_report.build(run_name="diabetes-1", dataset_uri="sklearn:diabetes", dataset_version="v1",
                                   frame=frame, test=test.drop(columns=["bmi"]), model=model, selection=selection,
                                   columns=None, target="progression", task="regression", metric_name="rmse", seed=0,
                                   generated="now")
    assert re.search(r'class="bad">model evaluation could not be drawn: .*bmi', broken)
    for section in SECTIONS:
        assert f'<section id="{section}">' in broken
