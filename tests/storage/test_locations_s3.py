"""mlops_components.locations, the one storage layer, against a real S3-compatible server (moto) on loopback."""
from __future__ import annotations

import pandas as pd
import pytest

from mlops_components import datasets, locations
from mlops_components.locations import S3Config, StorageError
from mlops_operator.monitor import export
from tests.storage import s3server


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3server.running(tmp_path_factory.mktemp("moto") / "moto.log", "lake") as server:
        yield server


@pytest.fixture
def config(s3) -> S3Config:
    return S3Config(endpoint=s3.endpoint, region="us-east-1", access_key_id=s3.access_key_id,
                    secret_access_key=s3.secret_access_key)


def test_bytes_and_directories_round_trip(s3, config, tmp_path):
    locations.write_bytes("s3://lake/a/b.txt", b"hello", config)
    assert locations.read_bytes("s3://lake/a/b.txt", config) == b"hello"
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.joblib").write_bytes(b"\x00\x01")
    (model / "sub" / "x.json").write_text("{}")
    locations.copy_directory(model, "s3://lake/runs/r1/model", config)
    assert s3.keys("lake", "runs/r1/") == ["runs/r1/model/model.joblib", "runs/r1/model/sub/x.json"]
    fetched = locations.fetch_directory("s3://lake/runs/r1/model", ["model.joblib"], tmp_path / "got", config)
    assert (fetched / "model.joblib").read_bytes() == b"\x00\x01"
    locations.check_reachable("s3://lake/runs", config)


def test_pipeline_steps_take_the_store_from_the_standard_environment(s3, monkeypatch):
    s3.client().put_object(Bucket="lake", Key="env.txt", Body=b"from env")
    monkeypatch.setenv("MLOPS_S3_ENDPOINT", s3.endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("MLOPS_S3_VERIFY", "false")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    assert S3Config.from_env().verify is False
    assert locations.read_bytes("s3://lake/env.txt") == b"from env"
    monkeypatch.delenv("MLOPS_S3_ENDPOINT")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)  # boto3's own name works too
    assert S3Config.from_env().endpoint == s3.endpoint


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_datasets_are_read_from_a_bucket_with_the_same_digest(s3, config, monkeypatch, fmt):
    frame = datasets.load("palmerpenguins", "csv", "species")
    data = frame.to_csv(index=False).encode() if fmt == "csv" else frame.to_parquet(index=False)
    s3.client().put_object(Bucket="lake", Key=f"penguins.{fmt}", Body=data)
    monkeypatch.setenv("MLOPS_S3_ENDPOINT", s3.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
    loaded = datasets.load(f"s3://lake/penguins.{fmt}", fmt, "species")
    assert datasets.digest(loaded) == datasets.digest(frame)


def test_the_monitors_exports_go_to_the_same_store(s3, config):
    table = pd.DataFrame({"x": [1.0, 2.0], "target": [0, 1]})
    uri, digest = export.write(table, "s3://lake/exports/md", "parquet", config)
    assert uri.startswith("s3://lake/exports/md/") and uri.endswith(".parquet")
    assert datasets.digest(datasets.parse(locations.read_bytes(uri, config), "parquet")) == digest


def test_refusals_name_the_uri_and_the_stores_code_and_never_a_key(s3, config):
    wrong_id = S3Config(endpoint=s3.endpoint, access_key_id="AKIAWRONGKEYID000000", secret_access_key="x" * 40)
    wrong_secret = S3Config(endpoint=s3.endpoint, access_key_id=s3.access_key_id, secret_access_key="y" * 40)
    cases = [
        (lambda: locations.read_bytes("s3://no-such-bucket/k", config), "s3://no-such-bucket/k", "NoSuchBucket"),
        (lambda: locations.check_reachable("s3://no-such-bucket/p", config), "s3://no-such-bucket/p", "NoSuchBucket"),
        (lambda: locations.read_bytes("s3://lake/missing.json", config), "s3://lake/missing.json", "NoSuchKey"),
        (lambda: locations.write_bytes("s3://lake/k", b"", wrong_id), "s3://lake/k", "InvalidAccessKeyId"),
        (lambda: locations.check_reachable("s3://lake/p", wrong_secret), "s3://lake/p", "SignatureDoesNotMatch"),
    ]
    for call, uri, code in cases:
        with pytest.raises(StorageError) as caught:
            call()
        assert (caught.value.uri, caught.value.code) == (uri, code)
        assert str(caught.value).startswith(f"{uri}: {code}")
        assert s3.secret_access_key not in str(caught.value) and "x" * 40 not in str(caught.value)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no botocore chain to log
    assert StorageError("s3://lake/missing.json", "NoSuchKey", "").not_found


def test_an_unreachable_endpoint_fails_fast_naming_the_endpoint(config):
    closed = S3Config(endpoint=f"http://127.0.0.1:{s3server.free_port()}", access_key_id="a" * 20,
                      secret_access_key="b" * 40)
    with pytest.raises(StorageError, match=r"^s3://lake/k: EndpointConnectionError .*127\.0\.0\.1") as caught:
        locations.read_bytes("s3://lake/k", closed)
    assert "b" * 40 not in str(caught.value)


def test_credentials_never_show_in_a_config_repr():
    text = repr(S3Config(endpoint="http://minio:9000", access_key_id="AKIAEXAMPLEEXAMPLE", secret_access_key="s" * 40))
    assert "AKIAEXAMPLEEXAMPLE" not in text and "s" * 40 not in text and "minio" in text


@pytest.mark.parametrize("value, verify", [(None, True), ("", True), ("TRUE", True), ("false", False), ("0", False),
                                           ("/etc/ssl/ca.pem", "/etc/ssl/ca.pem")])
def test_tls_verification_setting(value, verify):
    assert locations.parse_verify(value) == verify
