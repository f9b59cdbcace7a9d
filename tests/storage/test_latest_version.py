"""`dataset.version: latest`: the operator lists the source and follows its newest version (files and S3)."""
from __future__ import annotations

import asyncio

import pytest

from mlops_components import locations
from mlops_components.locations import S3Config
from mlops_operator.api.common import now_rfc3339
from mlops_operator.api.mlproject import MLProjectSpec
from mlops_operator.handlers.mlproject import _latest_version
from mlops_operator.handlers.state import OperatorState
from mlops_operator.settings import Settings
from tests.storage import s3server


def project(uri: str) -> MLProjectSpec:
    return MLProjectSpec.model_validate({
        "dataset": {"uri": uri, "version": "latest", "target": "target"},
        "candidates": [{"name": "lr", "estimator": "LogisticRegression"}], "metric": {"name": "accuracy"}})


def state_with(settings: Settings) -> OperatorState:
    return OperatorState(settings=settings, monitor=None, metrics=None)  # type: ignore[arg-type]


def latest(settings: Settings, uri: str, status: dict | None = None):
    return asyncio.run(_latest_version(state_with(settings), "ml", project(uri), status or {}))


def test_files_resolve_to_the_newest_version_and_a_new_one_is_seen_after_the_refresh(tmp_path):
    for version in ("v2", "v10", "v9"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "train.csv").write_text("x,target\n1,0\n")
    (tmp_path / "v11").mkdir()  # a version directory without the file does not count
    uri = (tmp_path / "{version}" / "train.csv").as_uri().replace("%7B", "{").replace("%7D", "}")
    first = latest(Settings(), uri)
    assert (first.version, first.error) == ("v10", None)
    (tmp_path / "v11" / "train.csv").write_text("x,target\n1,0\n")
    assert latest(Settings(), uri, {"latestDatasetVersion": first.wire()}).version == "v10"  # checked a moment ago
    stale = first.model_copy(update={"checked_at": "2000-01-01T00:00:00Z"}).wire()
    assert latest(Settings(), uri, {"latestDatasetVersion": stale}).version == "v11"


def test_nothing_to_list_is_an_error_naming_the_uri(tmp_path):
    result = latest(Settings(), str(tmp_path / "{version}" / "train.csv"))
    assert result.version is None
    assert result.error.startswith(f"dataset.uri: no version under {tmp_path}/ fits")


def test_http_sources_cannot_say_what_is_latest():
    result = latest(Settings(), "https://data.example/{version}/train.csv")
    assert result.version is None and "cannot list https://data.example/" in result.error


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3server.running(tmp_path_factory.mktemp("moto") / "moto.log", "lake") as server:
        yield server


def test_s3_keys_resolve_and_a_failing_store_keeps_the_last_version_with_its_code(s3, monkeypatch):
    config = S3Config(endpoint=s3.endpoint, region="us-east-1", access_key_id=s3.access_key_id,
                      secret_access_key=s3.secret_access_key)
    for version in ("2026-09-01", "2026-11-01", "2026-10-01"):
        locations.write_bytes(f"s3://lake/churn/{version}/train.csv", b"x,target\n1,0\n", config)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)  # no Secret: the environment's keys, as with an IAM role
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    settings = Settings(s3_endpoint=s3.endpoint)
    found = latest(settings, "s3://lake/churn/{version}/train.csv")
    assert (found.version, found.error) == ("2026-11-01", None)
    stale = {"latestDatasetVersion": {**found.wire(), "checkedAt": "2000-01-01T00:00:00Z"}}
    missing = latest(settings, "s3://absent/churn/{version}/train.csv", stale)
    assert missing.version == "2026-11-01"  # keeps training on what it found before
    assert "cannot list s3://absent/churn/" in missing.error and "NoSuchBucket" in missing.error
    assert s3.secret_access_key not in missing.error and missing.checked_at <= now_rfc3339()
