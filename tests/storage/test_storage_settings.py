"""Which object store a project's runs and deployments use: the operator's settings, field by field
overridden by the project's spec.storage."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_operator.api.mlproject import MLProjectSpec, ObjectStorage
from mlops_operator.settings import Settings
from mlops_operator.training.storage import StorageSettings, serving_secret

OPERATOR = Settings(s3_endpoint="http://minio.kubeflow:9000", s3_region="us-east-1", storage_secret="mlpipeline-s3")


def test_project_fields_override_the_operators_one_by_one():
    assert StorageSettings.resolve(OPERATOR) == StorageSettings("http://minio.kubeflow:9000", "us-east-1", True,
                                                                "mlpipeline-s3")
    mine = StorageSettings.resolve(OPERATOR, ObjectStorage(secret_name="team-a-s3", verify_tls=False))
    assert mine == StorageSettings("http://minio.kubeflow:9000", "us-east-1", False, "team-a-s3")
    assert StorageSettings.resolve(Settings()).configured is False and mine.configured


def test_steps_get_only_non_secret_settings_as_plain_env():
    env = StorageSettings.resolve(OPERATOR, ObjectStorage(verify_tls=False)).step_env()
    assert env == {"AWS_REGION": "us-east-1", "MLOPS_S3_ENDPOINT": "http://minio.kubeflow:9000",
                   "MLOPS_S3_VERIFY": "false"}


def test_seldon_names_the_projects_secret_else_the_operators():
    assert serving_secret(OPERATOR, None) == "mlpipeline-s3"
    assert serving_secret(OPERATOR, {"storage": {"secretName": "team-a-s3"}}) == "team-a-s3"
    assert serving_secret(Settings(), {"dataset": {}}) is None


@pytest.mark.parametrize("storage, field", [({"endpoint": "minio:9000"}, "endpoint"),
                                            ({"secretName": "Not_A_Name"}, "secretName")])
def test_bad_project_storage_names_the_field(storage, field):
    spec = {"dataset": {"uri": "s3://d/x.csv", "version": "v1", "target": "y"},
            "candidates": [{"name": "lr", "estimator": "LogisticRegression"}], "storage": storage}
    with pytest.raises(ValidationError) as caught:
        MLProjectSpec.model_validate(spec)
    assert caught.value.errors()[0]["loc"] == ("storage", field)


def test_settings_read_the_storage_environment(monkeypatch):
    monkeypatch.setenv("MLOPS_S3_ENDPOINT", "https://s3.example")
    monkeypatch.setenv("MLOPS_S3_VERIFY", "false")
    monkeypatch.setenv("MLOPS_STORAGE_SECRET", "keys")
    settings = Settings.from_env()
    assert (settings.s3_endpoint, settings.s3_verify_tls, settings.storage_secret) == ("https://s3.example", False, "keys")
    monkeypatch.setenv("MLOPS_S3_VERIFY", "maybe")
    with pytest.raises(ValueError, match="MLOPS_S3_VERIFY must be true or false"):
        Settings.from_env()
