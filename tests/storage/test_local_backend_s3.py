"""The in-cluster `local` backend with an object store configured: models go to the store, where Seldon's
pods can load them, instead of the operator pod's data dir."""
from __future__ import annotations

import pytest

from mlops_operator.api.mlproject import MLProjectSpec
from mlops_operator.settings import Settings
from mlops_operator.training.backend import TrainingRequest
from mlops_operator.training.backends import Backends
from mlops_operator.training.local_backend import LocalBackend
from tests.training.training_helpers import run_to_completion

BACKENDS = Backends()

pytestmark = pytest.mark.e2e

IRIS = {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
        "candidates": [{"name": "lr", "estimator": "LogisticRegression", "hyperparameters": {"max_iter": [500]}}],
        "metric": {"name": "accuracy", "minimum": 0.8}}


def test_without_storage_models_stay_in_the_run_directory(tmp_path):
    backend = BACKENDS.for_project(Settings(data_dir=tmp_path), MLProjectSpec.model_validate(IRIS))
    request = TrainingRequest(namespace="ml", run_name="iris-1", project=MLProjectSpec.model_validate(IRIS))
    assert isinstance(backend, LocalBackend) and backend.output_uri(request).startswith("file://")
    BACKENDS.terminate()


def test_with_storage_the_local_backend_writes_model_and_result_to_the_store(tmp_path, s3, monkeypatch):
    s3.make_bucket("models")
    # No Secret here: boto3's own chain (as with an IAM role on the operator pod) supplies the keys.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    settings = Settings(data_dir=tmp_path / "data", artifact_root="s3://models/mlops", s3_endpoint=s3.endpoint)
    project = MLProjectSpec.model_validate(IRIS)
    backend = BACKENDS.for_project(settings, project)
    request = TrainingRequest(namespace="ml", run_name="iris-1", project=project)
    try:
        outcome = run_to_completion(backend, request)
    finally:
        BACKENDS.terminate()
    assert outcome.state == "Succeeded", outcome.message
    assert outcome.status["model"]["uri"] == "s3://models/mlops/ml/iris-1/model"
    keys = s3.keys("models")
    assert {"mlops/ml/iris-1/result.json", "mlops/ml/iris-1/model/model.joblib"} <= set(keys), keys
    assert not (tmp_path / "data" / "runs" / "ml" / "iris-1" / "model").exists()


def test_a_missing_bucket_fails_the_local_run_before_it_starts(tmp_path, s3, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    settings = Settings(data_dir=tmp_path / "data", artifact_root="s3://absent/mlops", s3_endpoint=s3.endpoint)
    project = MLProjectSpec.model_validate(IRIS)
    request = TrainingRequest(namespace="ml", run_name="iris-1", project=project)
    try:
        outcome = run_to_completion(BACKENDS.for_project(settings, project), request)
    finally:
        BACKENDS.terminate()
    assert outcome.state == "Failed"
    assert outcome.message.startswith("object storage: s3://absent/mlops/ml/iris-1: NoSuchBucket"), outcome.message
