"""Object storage on a cluster, end to end, against a real S3-compatible server (moto) on loopback.

The real operator (embedded dev cluster) trains on the `kfp` backend; the KFP stand-in executes the
compiled IR in subprocesses and hands each step only the environment the IR asks for, the Secret's
keys included (read from the embedded API), as a cluster's KFP driver would. The dataset is read from
a bucket, the model and result are written under the configured prefix, the operator reads the result
with keys from the same Secret, and the SeldonDeployment it generates names that Secret; rclone, set
up exactly as that Secret says (Seldon's storage initializer reads it the same way), copies the model
and MLServer serves the copy. Broken storage ends as a condition and an Event naming the cause, and
no key value shows anywhere.
"""
from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from sklearn.datasets import load_iris

from mlops_operator.serving.model_server import ModelServer
from tests.e2e.harness import Kube, ThreadedDevCluster, error_lines, status
from tests.serving.seldon_schema import errors_of, peer_validator
from tests.storage import s3server
from tests.training.kfp_fake import FakeKfp, ThreadedKfp

pytestmark = pytest.mark.e2e

SECRET = "s3-creds"
ARTIFACT_ROOT = "s3://models/mlops"


def rclone_secret(server: s3server.S3Server, *, secret_key: str | None = None) -> dict[str, str]:
    """The Secret's entries exactly as the README shows them (Seldon's rclone storage initializer format)."""
    return {
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Minio",
        "RCLONE_CONFIG_S3_ENV_AUTH": "false",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": server.access_key_id,
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": secret_key or server.secret_access_key,
        "RCLONE_CONFIG_S3_ENDPOINT": server.endpoint,
    }


def project(name: str, dataset: str, storage: dict | None = None) -> dict:
    spec = {"dataset": {"uri": dataset, "version": "v1", "target": "target", "format": "csv"},
            "candidates": [{"name": "lr", "estimator": "LogisticRegression", "hyperparameters": {"max_iter": [500]}}],
            "metric": {"name": "accuracy", "minimum": 0.8}}
    if storage:
        spec["storage"] = storage
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": name}, "spec": spec}


def finished(obj: dict) -> bool:
    return status(obj).get("phase") in ("Blessed", "Rejected", "Failed")


def secret_reader(kube_holder: dict):
    def read(name: str) -> dict[str, str] | None:
        try:
            secret = kube_holder["kube"].core.read_namespaced_secret(name, "default")
        except Exception:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    return read


def create_secret(kube: Kube, name: str, entries: dict[str, str]) -> None:
    kube.core.create_namespaced_secret("default", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in entries.items()}})


def test_cluster_path_from_a_bucket_to_a_served_model_with_keys_from_one_secret(tmp_path, s3):
    s3.make_bucket("data")
    s3.make_bucket("models")
    frame = load_iris(as_frame=True).frame
    s3.client().put_object(Bucket="data", Key="iris/v1.csv", Body=frame.to_csv(index=False).encode())
    holder: dict = {}
    with ThreadedKfp(FakeKfp(tmp_path / "kfp", execute=True, secrets=secret_reader(holder))) as kfp:
        env = {"MLOPS_TRAINING_BACKEND": "kfp", "MLOPS_KFP_ENDPOINT": kfp.url, "MLOPS_ARTIFACT_ROOT": ARTIFACT_ROOT,
               "MLOPS_S3_ENDPOINT": s3.endpoint, "MLOPS_S3_REGION": "us-east-1", "MLOPS_STORAGE_SECRET": SECRET}
        with ThreadedDevCluster(tmp_path / "dev", examples=None, env=env) as cluster:
            kube = holder["kube"] = Kube(cluster.kubeconfig)
            create_secret(kube, SECRET, rclone_secret(s3))
            kube.create("mlprojects", project("iris", "s3://data/iris/v1.csv"))
            run = kube.wait("trainingruns", "iris-v1", finished, 600, "trained from the bucket")
            assert status(run)["phase"] == "Blessed", status(run)
            model_uri = status(run)["model"]["uri"]
            assert model_uri == f"{ARTIFACT_ROOT}/default/iris-v1/model"
            keys = s3.keys("models", "mlops/default/iris-v1/")
            assert {"mlops/default/iris-v1/result.json", "mlops/default/iris-v1/model/model.joblib",
                    "mlops/default/iris-v1/model/model-settings.json"} <= set(keys), keys
            assert status(run)["lineage"]["datasetUri"] == "s3://data/iris/v1.csv"

            # The KFP run got the keys only through the IR's secretAsEnv: what the operator sent names the Secret.
            (submitted,) = kfp.submitted.values()
            text = json.dumps(submitted)
            assert "secretAsEnv" in text and SECRET in text and "MLOPS_S3_ENDPOINT" in text

            kube.create("modeldeployments", {
                "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
                "spec": {"projectRef": {"name": "iris"}, "model": {"trainingRun": "iris-v1"}}})
            sdep = _wait_sdep(kube, "iris")
            graph = sdep["spec"]["predictors"][0]["graph"]
            assert graph["modelUri"] == model_uri and graph["envSecretRefName"] == SECRET
            manifest = {k: sdep[k] for k in ("apiVersion", "kind", "spec")}
            manifest["metadata"] = {"name": "iris", "namespace": "default"}
            assert errors_of(peer_validator(), manifest) == []

            leaked = [s3.secret_access_key, s3.access_key_id]
            everything = json.dumps([kube.list(p) for p in ("mlprojects", "trainingruns", "modeldeployments")])
            everything += json.dumps(kube.events_for("iris-v1")) + json.dumps(kube.events_for("iris"))
            everything += cluster.operator_log() + text
            assert not [s for s in leaked if s in everything]
            assert not error_lines(cluster.operator_log()), error_lines(cluster.operator_log())

    # Seldon's storage initializer: rclone configured only by the Secret's entries, s3://b/p read as s3:b/p.
    copy = tmp_path / "initializer" / "model"
    rclone_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **rclone_secret(s3)}
    source = "s3:" + model_uri.removeprefix("s3://")
    subprocess.run(["rclone", "copy", source, str(copy)], env=rclone_env, check=True, capture_output=True, timeout=120)
    assert (copy / "model.joblib").exists() and (copy / "model-settings.json").exists()
    server = ModelServer(model_uri=copy.as_uri(), model_name="model", work_dir=tmp_path / "mlserver")
    server.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{server.url}/v2/models/model/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.exit_code() is None and time.monotonic() < deadline, server.log_tail()
            time.sleep(0.5)
        row = frame.drop(columns="target").iloc[0].to_dict()
        body = {"parameters": {"content_type": "pd"},
                "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [float(v)]} for k, v in row.items()]}
        answer = requests.post(f"{server.url}/v2/models/model/infer", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [0]  # the first iris row is a setosa
    finally:
        server.stop()


def _wait_sdep(kube: Kube, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return kube.get("seldondeployments", name, group="machinelearning.seldon.io", version="v1")
        except Exception:
            time.sleep(0.5)
    raise AssertionError(f"no SeldonDeployment {name} after {timeout}s")


def test_broken_storage_ends_as_a_condition_and_event_naming_the_cause(tmp_path, s3):
    s3.make_bucket("models")
    holder: dict = {}
    with ThreadedKfp(FakeKfp(tmp_path / "kfp", execute=True, secrets=secret_reader(holder))) as kfp:
        env = {"MLOPS_TRAINING_BACKEND": "kfp", "MLOPS_KFP_ENDPOINT": kfp.url, "MLOPS_ARTIFACT_ROOT": ARTIFACT_ROOT,
               "MLOPS_S3_ENDPOINT": s3.endpoint, "MLOPS_STORAGE_SECRET": SECRET}
        with ThreadedDevCluster(tmp_path / "dev", examples=None, env=env) as cluster:
            kube = holder["kube"] = Kube(cluster.kubeconfig)
            create_secret(kube, SECRET, rclone_secret(s3))
            create_secret(kube, "wrong-keys", rclone_secret(s3, secret_key="not-the-secret-key-at-all"))
            closed = s3server.free_port()
            kube.create("mlprojects", project("nobucket", "s3://no-such-bucket/iris.csv"))
            kube.create("mlprojects", project("wrongkeys", "sklearn:iris", {"secretName": "wrong-keys"}))
            kube.create("mlprojects", project("nosecret", "sklearn:iris", {"secretName": "missing"}))
            kube.create("mlprojects", project("unreachable", "sklearn:iris",
                                              {"endpoint": f"http://127.0.0.1:{closed}"}))
            expected = {
                "nobucket": ("s3://no-such-bucket/iris.csv", "NoSuchBucket"),
                "wrongkeys": (f"{ARTIFACT_ROOT}/default/wrongkeys-v1", "SignatureDoesNotMatch"),
                "nosecret": ("Secret 'missing' not found in namespace 'default'", "storage.secretName"),
                "unreachable": (f"{ARTIFACT_ROOT}/default/unreachable-v1", "EndpointConnectionError"),
            }
            for name, (where, code) in expected.items():
                run = kube.wait("trainingruns", f"{name}-v1", finished, 600, f"{name} failed")
                assert status(run)["phase"] == "Failed", (name, status(run))
                condition = next(c for c in status(run)["conditions"] if c["type"] == "Ready")
                assert where in condition["message"] and code in condition["message"], (name, condition)
                assert "Traceback" not in json.dumps(status(run))
                events = [m for t, r, m in kube.events_for(f"{name}-v1") if t == "Warning"]
                assert any(where in m and code in m for m in events), (name, events)
            everything = json.dumps(kube.list("trainingruns")) + json.dumps(
                [kube.events_for(f"{n}-v1") for n in expected]) + cluster.operator_log()
            everything += json.dumps(list(kfp.submitted.values()))
            assert s3.secret_access_key not in everything and "not-the-secret-key-at-all" not in everything
            assert s3.access_key_id not in everything


def test_the_readmes_secret_is_the_one_these_tests_use():
    """The Secret the README tells a platform team to create has exactly the entries rclone is configured
    with above (and the operator and the pipeline steps read two of them)."""
    import re

    import yaml

    from mlops_operator.training.storage import SECRET_KEY_TO_ENV

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Object storage", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    secret = yaml.safe_load(block)
    fake = s3server.S3Server("http://minio-service.kubeflow:9000", "id", "key", process=None)  # type: ignore[arg-type]
    assert set(secret["stringData"]) == set(rclone_secret(fake))
    assert secret["stringData"]["RCLONE_CONFIG_S3_TYPE"] == "s3"
    assert secret["stringData"]["RCLONE_CONFIG_S3_ENV_AUTH"] == "false"
    assert set(SECRET_KEY_TO_ENV) <= set(secret["stringData"])
