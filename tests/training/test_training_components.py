"""The plain-Python parts of the components, on real data: loading, validation, models, scoring, model dir."""
import functools
import http.server
import json
import threading

import numpy as np
import pandas as pd
import pytest

from mlops_components import datasets, locations, modeldir, modeling, schema_check, scoring
from mlops_components.failures import StepFailed, recorded


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("name,target,rows", [("breast_cancer", "target", 569), ("iris", "species", 150),
                                              ("wine", "target", 178), ("diabetes", "progression", 442)])
def test_sklearn_datasets_name_the_target_column(name, target, rows):
    frame = datasets.load(f"sklearn:{name}", "csv", target)
    assert len(frame) == rows and target in frame.columns and "target" not in frame.columns.drop(target, errors="ignore")


def test_unknown_sklearn_dataset_is_named():
    with pytest.raises(ValueError, match="dataset.uri: unknown sklearn dataset 'mnist'"):
        datasets.load("sklearn:mnist", "csv", "y")


def test_penguins_come_from_the_package():
    frame = datasets.load("palmerpenguins", "csv", "species")
    assert len(frame) == 344 and frame["species"].nunique() == 3 and frame["sex"].isna().any()


def test_same_content_same_digest_whatever_the_source(tmp_path, http_root):
    frame = datasets.load("sklearn:iris", "csv", "species")
    (tmp_path / "iris.csv").write_bytes(datasets.canonical_csv(frame))
    by_path = datasets.load(str(tmp_path / "iris.csv"), "csv", "species")
    by_file_uri = datasets.load((tmp_path / "iris.csv").as_uri(), "csv", "species")
    by_http = datasets.load(f"{http_root}/iris.csv", "csv", "species")
    digests = {datasets.digest(f) for f in (frame, by_path, by_file_uri, by_http)}
    assert len(digests) == 1 and digests.pop().startswith("sha256:")
    changed = frame.copy()
    changed.loc[0, "sepal length (cm)"] += 0.1
    assert datasets.digest(changed) != datasets.digest(frame)


def test_http_errors_and_unsupported_schemes_are_clear(http_root):
    with pytest.raises(Exception, match="404"):
        datasets.load(f"{http_root}/missing.csv", "csv", "y")
    with pytest.raises(ValueError, match="unsupported location scheme 'ftp'"):
        datasets.load("ftp://host/data.csv", "csv", "y")


def test_s3_needs_boto3_or_reads_through_it():
    try:
        import boto3  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="s3:// locations need the boto3 package"):
            datasets.load("s3://bucket/data.csv", "csv", "y")
    with pytest.raises(ValueError, match="without a bucket"):
        locations.read_bytes("s3:///key.csv")


def test_parquet_and_csv_of_the_same_table_share_a_digest(tmp_path, http_root):
    frame = datasets.load("palmerpenguins", "csv", "species")
    frame.to_parquet(tmp_path / "penguins.parquet")
    for uri in (str(tmp_path / "penguins.parquet"), f"{http_root}/penguins.parquet"):
        loaded = datasets.load(uri, "parquet", "species")
        assert datasets.digest(loaded) == datasets.digest(frame)
    with pytest.raises(ValueError, match="dataset.format: unsupported format 'json'"):
        datasets.parse(b"{}", "json")


def test_schema_check_names_each_offending_column():
    frame = pd.DataFrame({
        "age": [30, 41, 250, None], "income": [1.5, 2.5, 3.5, 4.5], "city": ["a", "b", "zzz", "a"],
        "flag": [True, False, True, False], "label": [0, 1, 0, 1],
    })
    columns = [
        {"name": "age", "type": "int", "min": 0, "max": 120},
        {"name": "income", "type": "int"},
        {"name": "city", "type": "category", "categories": ["a", "b"]},
        {"name": "flag", "type": "bool"},
        {"name": "missing_one", "type": "float"},
        {"name": "label", "type": "int"},
    ]
    report = schema_check.check(frame, columns, "label")
    assert set(report) == {"age", "income", "city", "missing_one"}
    assert any("above max 120" in p for p in report["age"]) and any("not nullable" in p for p in report["age"])
    assert report["income"] == ["expected int values, found fractions"]
    assert "zzz" in report["city"][0] and report["missing_one"] == ["column is missing"]
    text = schema_check.describe(report)
    assert text.startswith("schema validation failed for columns age, city, income, missing_one")
    assert schema_check.check(frame.drop(columns="label"), None, "label") == {"label": ["target column is missing"]}
    assert schema_check.check(frame.dropna(), [{"name": "city", "type": "string"}], "label") == {}


def test_failures_are_recorded_where_backends_read_them(tmp_path):
    with pytest.raises(StepFailed):
        with recorded("validate", tmp_path.as_uri()):
            raise StepFailed("columns x, y are wrong")
    assert json.loads((tmp_path / "error.json").read_text()) == {
        "step": "validate", "message": "columns x, y are wrong", "error": "StepFailed"}


@pytest.mark.parametrize("name,task,expected", [
    ("LogisticRegression", "classification", "sklearn.linear_model._logistic.LogisticRegression"),
    ("sklearn.ensemble.RandomForestRegressor", "regression", "sklearn.ensemble._forest.RandomForestRegressor"),
    ("HistGradientBoostingClassifier", "classification", "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier"),
    ("KernelRidge", "regression", "sklearn.kernel_ridge.KernelRidge"),  # found beyond the common modules
])
def test_estimators_resolve_by_short_or_dotted_name(name, task, expected):
    cls = modeling.resolve_estimator(name, task)
    assert f"{cls.__module__}.{cls.__name__}" == expected


@pytest.mark.parametrize("name,task,words", [
    ("torch.nn.Linear", None, "only scikit-learn estimators"),
    ("sklearn.ensemble.NoSuchForest", None, "not a scikit-learn estimator"),
    ("StandardScaler", "classification", "not a classifier"),
    ("LogisticRegression", "regression", "not a regressor"),
])
def test_bad_estimators_are_refused_clearly(name, task, words):
    with pytest.raises(ValueError, match=words):
        modeling.resolve_estimator(name, task)


def test_grid_expansion_is_every_combination_with_stable_ids():
    trials = modeling.expand_trials([
        {"name": "lr", "estimator": "LogisticRegression", "hyperparameters": {"C": [0.1, 1], "penalty": ["l2", None]}},
        {"name": "rf", "estimator": "RandomForestClassifier"},
    ])
    assert [t["id"] for t in trials] == ["lr-0", "lr-1", "lr-2", "lr-3", "rf-0"]
    assert trials[1]["hyperparameters"] == {"C": 0.1, "penalty": None}
    assert trials[4]["hyperparameters"] == {} and trials[4]["preprocessing"] == "standard"


def _penguin_model():
    frame = datasets.load("palmerpenguins", "csv", "species")
    features = modeling.feature_columns(frame, None, "species")
    trial = {"id": "lr-0", "candidate": "lr", "estimator": "LogisticRegression",
             "hyperparameters": {"max_iter": 2000}, "preprocessing": "minmax"}
    model = modeling.make_pipeline(trial, features, "classification", 0)
    model.fit(frame[[f["name"] for f in features]], frame["species"])
    return frame, features, model


def test_pipeline_contains_its_transforms_and_handles_missing_values():
    frame, features, model = _penguin_model()
    assert {f["name"]: f["type"] for f in features}["island"] == "string"
    assert list(model.named_steps) == ["preprocess", "estimator"]
    row = frame.drop(columns="species").iloc[[3]]  # the penguin with all measurements missing
    assert row.isna().any(axis=None)
    assert model.predict(row)[0] in {"Adelie", "Chinstrap", "Gentoo"}
    unseen = frame.drop(columns="species").iloc[[0]].assign(island="Atlantis")
    assert len(model.predict(unseen)) == 1  # unknown categories are ignored, not fatal


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "f1", "precision", "recall", "log_loss"])
def test_multiclass_metrics_and_seeded_intervals(metric):
    frame, features, model = _penguin_model()
    truth = frame["species"].to_numpy()
    out = scoring.predict(model, frame[[f["name"] for f in features]], metric)
    value = scoring.score(metric, truth, out)
    low, high = scoring.bootstrap_interval(metric, truth, out, samples=50, seed=7)
    assert low <= high and np.isfinite(value)
    assert scoring.bootstrap_interval(metric, truth, out, samples=50, seed=7) == (low, high)
    assert scoring.bootstrap_interval(metric, truth, out, samples=50, seed=8) != (low, high)


@pytest.mark.parametrize("metric,check", [
    ("rmse", lambda v: v > 0), ("mae", lambda v: v > 0), ("r2", lambda v: 0 < v < 1)])
def test_regression_metrics(metric, check):
    frame = datasets.load("sklearn:diabetes", "csv", "progression")
    features = modeling.feature_columns(frame, None, "progression")
    trial = {"id": "r-0", "candidate": "r", "estimator": "Ridge", "hyperparameters": {}}
    model = modeling.make_pipeline(trial, features, "regression", 0).fit(frame.drop(columns="progression"),
                                                                          frame["progression"])
    out = scoring.predict(model, frame.drop(columns="progression"), metric)
    assert check(scoring.score(metric, frame["progression"].to_numpy(), out))


def test_paired_differences_of_a_model_with_itself_are_zero():
    frame, features, model = _penguin_model()
    truth = frame["species"].to_numpy()
    out = scoring.predict(model, frame[[f["name"] for f in features]], "accuracy")
    assert set(scoring.paired_differences("accuracy", truth, out, out, samples=20, seed=1)) == {0.0}


def test_model_directory_files(tmp_path):
    frame, features, model = _penguin_model()
    digest = modeldir.write(tmp_path, model, name="penguins-1", version="penguins-1", features=features,
                            target="species", task="classification", train_frame=frame,
                            metrics={"metric": {"name": "f1", "value": 0.9}})
    settings = json.loads((tmp_path / "model-settings.json").read_text())
    assert settings["implementation"] == "mlserver_sklearn.SKLearnModel"
    assert settings["parameters"]["uri"] == "./model.joblib"
    assert [i["name"] for i in settings["inputs"]] == [f["name"] for f in features]
    assert {i["name"]: i["datatype"] for i in settings["inputs"]}["year"] == "INT64"
    assert digest == modeldir.file_digest(tmp_path / "model.joblib")
    reference = json.loads((tmp_path / "reference.json").read_text())
    quantiles = reference["features"]["body_mass_g"]["quantiles"]
    assert quantiles == sorted(quantiles) and quantiles[0] == frame["body_mass_g"].min()
    assert reference["features"]["sex"]["missingRate"] > 0
    assert json.loads((tmp_path / "metrics.json").read_text())["metric"]["value"] == 0.9


def test_bool_features_train_with_and_without_missing_values():
    frame = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6, 7, 8], "flag": [True, False] * 4, "y": [0, 1] * 4})
    features = modeling.feature_columns(frame, None, "y")
    assert features[1] == {"name": "flag", "type": "bool"}
    trial = {"id": "x-0", "candidate": "x", "estimator": "LogisticRegression", "hyperparameters": {}}
    model = modeling.make_pipeline(trial, features, "classification", 0).fit(frame[["a", "flag"]], frame["y"])
    assert list(model.predict(frame[["a", "flag"]])) == [0, 1] * 4  # flag alone separates the classes
    holes = frame.astype({"flag": object})
    holes.loc[2, "flag"] = None
    model = modeling.make_pipeline(trial, features, "classification", 0).fit(holes[["a", "flag"]], holes["y"])
    assert len(model.predict(holes[["a", "flag"]])) == 8


async def test_mlserver_answers_for_every_column_datatype(tmp_path):
    from mlserver.settings import ModelSettings
    from mlserver.types import InferenceRequest
    from mlserver_sklearn import SKLearnModel

    frame = pd.DataFrame({
        "size": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5], "count": [1, 2, 3, 4, 5, 6],
        "colour": ["red", "blue", "red", "blue", "red", "blue"], "flag": [True, False] * 3,
        "price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    })
    features = modeling.feature_columns(frame, None, "price")
    assert [f["type"] for f in features] == ["float", "int", "string", "bool"]
    trial = {"id": "r-0", "candidate": "r", "estimator": "LinearRegression", "hyperparameters": {}}
    model = modeling.make_pipeline(trial, features, "regression", 0).fit(frame.drop(columns="price"), frame["price"])
    modeldir.write(tmp_path, model, name="prices", version="1", features=features, target="price",
                   task="regression", train_frame=frame, metrics={})
    assert json.loads((tmp_path / "signature.json").read_text())["classes"] is None

    settings = ModelSettings.model_validate_json((tmp_path / "model-settings.json").read_text())
    settings._source = str(tmp_path / "model-settings.json")
    served = SKLearnModel(settings)
    await served.load()
    request = InferenceRequest.model_validate({"parameters": {"content_type": "pd"}, "inputs": [
        {"name": "size", "datatype": "FP64", "shape": [2], "data": [1.5, 6.5]},
        {"name": "count", "datatype": "INT64", "shape": [2], "data": [1, 6]},
        {"name": "colour", "datatype": "BYTES", "shape": [2], "data": ["red", "blue"]},
        {"name": "flag", "datatype": "BOOL", "shape": [2], "data": [True, False]},
    ]})
    response = await served.predict(request)
    expected = model.predict(frame.drop(columns="price").iloc[[0, 5]])
    assert np.allclose(response.outputs[0].data.root, expected)
