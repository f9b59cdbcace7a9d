"""The local backend end to end: real kfp.local runs of the compiled pipeline on real data."""
import json
import urllib.parse
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlops_operator.api.trainingrun import TrainingRunStatus
from mlops_operator.training.backend import STATUS_KEYS, TrainingRequest
from mlops_operator.training.local_backend import LocalBackend

from training_helpers import (  # noqa: F401 - local_backend is a fixture
    breast_cancer_project, local_backend, penguins_project, run_to_completion, wait_until_finished)

pytestmark = pytest.mark.e2e


def _path(uri: str) -> Path:
    assert uri.startswith("file://"), uri
    return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("training-data")


@pytest.fixture(scope="module")
def first_run(data_dir):
    backend = LocalBackend(data_dir=data_dir)
    request = TrainingRequest(namespace="ml", run_name="cancer-1", project=breast_cancer_project())
    try:
        yield request, run_to_completion(backend, request)
    finally:
        backend.terminate()


def test_example_project_is_blessed_with_full_status(first_run):
    request, outcome = first_run
    assert outcome.state == "Succeeded", outcome.message
    status = outcome.status
    assert set(status) == set(STATUS_KEYS)
    parsed = TrainingRunStatus.model_validate(status)  # the handler can store it as is
    assert parsed.comparison.decision == "Blessed"
    assert parsed.comparison.champion_value is None
    assert parsed.metric.name == "roc_auc" and parsed.metric.value >= 0.9
    assert parsed.metric.lower <= parsed.metric.value <= parsed.metric.upper
    assert len(parsed.candidates) == 3
    assert parsed.model.candidate == max(parsed.candidates, key=lambda c: c.value).candidate
    assert parsed.pipeline.backend == "local" and parsed.pipeline.digest.startswith("sha256:")
    assert parsed.lineage.pipeline_digest == parsed.pipeline.digest
    assert parsed.lineage.dataset_digest.startswith("sha256:") and parsed.lineage.seed == 42
    assert parsed.lineage.dataset_version == "v1" and parsed.lineage.dataset_uri == "sklearn:breast_cancer"
    model_dir = _path(parsed.model.uri)
    assert model_dir == Path(outcome.url[len("file://"):]) / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "metrics.json", "model-settings.json", "model.joblib", "reference.json", "signature.json"]


def test_evaluations_emit_kfp_metrics_for_the_ui(first_run):
    _, outcome = first_run
    outputs = sorted((_path(outcome.url) / "pipeline-root").glob("*/for-loop-*/evaluate/executor_output.json"))
    assert len(outputs) == 3  # one evaluation per grid point
    for path in outputs:
        artifacts = json.loads(path.read_text())["artifacts"]
        metrics = artifacts["metrics"]["artifacts"][0]["metadata"]
        assert metrics["roc_auc_ci_lower"] <= metrics["roc_auc"] <= metrics["roc_auc_ci_upper"]
        classification = artifacts["classification_metrics"]["artifacts"][0]["metadata"]
        matrix = classification["confusionMatrix"]
        assert [a["displayName"] for a in matrix["annotationSpecs"]] == ["0", "1"]
        assert sum(sum(row["row"]) for row in matrix["rows"]) == 143  # the held-out rows
        assert len(classification["confidenceMetrics"]) >= 2  # the ROC curve


def test_metric_matches_a_direct_scikit_learn_fit(first_run):
    _, outcome = first_run
    frame = load_breast_cancer(as_frame=True).frame
    features, target = frame.drop(columns="target"), frame["target"]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.25, random_state=42, stratify=target)
    direct = {
        ("logreg", 0.1): make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000, random_state=42)),
        ("logreg", 1.0): make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=42)),
        ("forest", None): RandomForestClassifier(n_estimators=50, random_state=42),
    }
    for candidate in outcome.status["candidates"]:
        key = (candidate["candidate"], candidate["hyperparameters"].get("C"))
        model = direct[key].fit(x_train, y_train)
        expected = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
        assert candidate["value"] == pytest.approx(expected, abs=2e-3), key
    assert outcome.status["metric"]["value"] == max(c["value"] for c in outcome.status["candidates"])


async def test_submit_is_idempotent_and_survives_a_restart(first_run, data_dir):
    request, outcome = first_run
    launch_before = (_path(outcome.url) / "launch.json").read_text()
    restarted = LocalBackend(data_dir=data_dir)  # a new operator process: nothing in memory
    again = await restarted.submit(request)
    assert again.state == "Succeeded" and again.run_id == outcome.run_id
    assert again.status == outcome.status
    polled = await restarted.poll(request, outcome.run_id)
    assert polled.status == outcome.status
    assert (_path(outcome.url) / "launch.json").read_text() == launch_before  # no second launch


async def test_weak_challenger_is_rejected_against_the_champion(first_run, local_backend):
    _, champion = first_run
    project = breast_cancer_project(
        candidates=[{"name": "stump", "estimator": "DecisionTreeClassifier", "hyperparameters": {"max_depth": [1]}}],
        metric={"name": "roc_auc", "minimum": 0.5},
    )
    request = TrainingRequest(namespace="ml", run_name="cancer-2", project=project, dataset_version="v2",
                              champion_run="cancer-1", champion_model_uri=champion.status["model"]["uri"])
    outcome = await wait_until_finished(local_backend, request, await local_backend.submit(request))
    assert outcome.state == "Succeeded", outcome.message
    comparison = outcome.status["comparison"]
    assert comparison["decision"] == "Rejected"
    assert "champion" in comparison["reason"]
    assert comparison["champion"] == "cancer-1"
    # the champion was re-scored on this run's held-out rows: same split, same number
    assert comparison["championValue"] == pytest.approx(champion.status["metric"]["value"], abs=1e-9)
    assert comparison["candidateValue"] < comparison["championValue"]
    assert comparison["differenceLower"] <= comparison["differenceUpper"] < 0
    assert outcome.status["lineage"]["parentChampion"] == "cancer-1"
    assert outcome.status["lineage"]["datasetVersion"] == "v2"


async def test_schema_violation_fails_at_validation_naming_the_columns(tmp_path, local_backend):
    frame = load_breast_cancer(as_frame=True).frame[["mean radius", "mean texture", "target"]].copy()
    frame.loc[3, "mean radius"] = 500.0  # out of range
    csv = tmp_path / "cancer.csv"
    frame.to_csv(csv, index=False)
    project = breast_cancer_project(dataset={
        "uri": csv.as_uri(), "version": "bad", "target": "target", "schema": {"columns": [
            {"name": "mean radius", "type": "float", "min": 0, "max": 50},
            {"name": "mean texture", "type": "float"},
            {"name": "mean smoothness", "type": "float"},
            {"name": "target", "type": "int"},
        ]}})
    request = TrainingRequest(namespace="ml", run_name="cancer-bad", project=project)
    outcome = await wait_until_finished(local_backend, request, await local_backend.submit(request))
    assert outcome.state == "Failed"
    assert "validate" in outcome.message
    assert "mean radius" in outcome.message and "above max 50" in outcome.message
    assert "mean smoothness" in outcome.message and "missing" in outcome.message
    assert "mean texture:" not in outcome.message
    assert "model" not in outcome.status


async def test_unreadable_dataset_fails_at_ingest(tmp_path, local_backend):
    project = breast_cancer_project(dataset={"uri": str(tmp_path / "nowhere.csv"), "version": "1", "target": "y"})
    request = TrainingRequest(namespace="ml", run_name="no-data", project=project)
    outcome = await wait_until_finished(local_backend, request, await local_backend.submit(request))
    assert outcome.state == "Failed"
    assert outcome.message.startswith("step ingest failed:") and "nowhere.csv" in outcome.message


async def test_unknown_estimator_fails_before_anything_runs(local_backend):
    project = breast_cancer_project(candidates=[{"name": "x", "estimator": "xgboost.XGBClassifier"}])
    outcome = await local_backend.submit(TrainingRequest(namespace="ml", run_name="bad-est", project=project))
    assert outcome.state == "Failed"
    assert "candidates[0].estimator" in outcome.message and "scikit-learn" in outcome.message


async def test_penguins_model_answers_through_mlserver(local_backend):
    from mlserver.settings import ModelSettings
    from mlserver.types import InferenceRequest
    from mlserver_sklearn import SKLearnModel

    request = TrainingRequest(namespace="ml", run_name="penguins-1", project=penguins_project())
    outcome = await wait_until_finished(local_backend, request, await local_backend.submit(request))
    assert outcome.state == "Succeeded", outcome.message
    assert outcome.status["comparison"]["decision"] == "Blessed"
    model_dir = _path(outcome.status["model"]["uri"])
    signature = json.loads((model_dir / "signature.json").read_text())
    assert signature["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert {f["name"]: f["datatype"] for f in signature["features"]}["island"] == "BYTES"
    reference = json.loads((model_dir / "reference.json").read_text())["features"]
    assert len(reference["bill_length_mm"]["quantiles"]) == 11
    assert set(reference["island"]["frequencies"]) == {"Biscoe", "Dream", "Torgersen"}

    settings = ModelSettings.model_validate_json((model_dir / "model-settings.json").read_text())
    settings._source = str(model_dir / "model-settings.json")  # how MLServer resolves ./model.joblib
    model = SKLearnModel(settings)
    await model.load()
    # What the serving side sends: Open Inference Protocol V2, one input per column, content type "pd".
    columns = {
        "island": ("BYTES", ["Biscoe", "Dream"]), "bill_length_mm": ("FP64", [47.5, 39.0]),
        "bill_depth_mm": ("FP64", [15.0, 18.5]), "flipper_length_mm": ("FP64", [217.0, 190.0]),
        "body_mass_g": ("FP64", [5200.0, 3700.0]), "sex": ("BYTES", ["male", "female"]),
        "year": ("INT64", [2008, 2008]),
    }
    inference = InferenceRequest.model_validate({
        "parameters": {"content_type": "pd"},
        "inputs": [{"name": name, "datatype": datatype, "shape": [len(data)], "data": data}
                   for name, (datatype, data) in columns.items()],
    })
    response = await model.predict(inference)
    labels = [v.decode() if isinstance(v, bytes) else v for v in response.outputs[0].data.root]
    assert labels == ["Gentoo", "Adelie"]


async def test_runner_killed_mid_run_is_lost_then_relaunched_once(tmp_path):
    project = breast_cancer_project(candidates=[{"name": "logreg", "estimator": "LogisticRegression",
                                                 "hyperparameters": {"max_iter": [2000]}}])
    request = TrainingRequest(namespace="ml", run_name="restarted", project=project)
    before = LocalBackend(data_dir=tmp_path)
    started = await before.submit(request)
    assert started.state == "Running"
    before.terminate()  # the operator's pod restarts: its runner processes die with it

    after = LocalBackend(data_dir=tmp_path)
    try:
        lost = await after.poll(request, started.run_id)
        assert lost.state == "Lost" and "without a result" in lost.message
        relaunched = await after.submit(request)
        assert relaunched.state == "Running" and "attempt 2" in relaunched.message
        done = await wait_until_finished(after, request, relaunched)
        assert done.state == "Succeeded", done.message
        assert (await after.submit(request)).state == "Succeeded"  # finished runs are never relaunched
    finally:
        after.terminate()
