"""The chart's object-store settings: they reach the operator, the operator may read only the named Secret,
and combinations that cannot work on a cluster are refused at render time, naming the value."""
from __future__ import annotations

import helm_python as helm
import pytest

from mlops_operator.settings import Settings

from .rbac import allows
from .render import by_kind, chart_notes, one, render_chart

MINIO = {"storage": {"endpoint": "http://minio-service.kubeflow:9000", "secretName": "mlpipeline-s3"},
         "training": {"backend": "kfp", "kfp": {"endpoint": "http://ml-pipeline.kubeflow:8888"}}}


def _env(objects) -> dict[str, str]:
    container = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def _rules(objects) -> list[dict]:
    return [rule for kind in ("ClusterRole", "Role") for role in by_kind(objects, kind) for rule in role.get("rules", [])]


def test_storage_values_reach_the_operator_settings(monkeypatch):
    env = _env(render_chart(MINIO))
    for name, value in env.items():
        if name.startswith("MLOPS_"):
            monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.s3_endpoint, settings.storage_secret) == ("http://minio-service.kubeflow:9000", "mlpipeline-s3")
    assert settings.s3_verify_tls is True and settings.s3_region is None
    assert not any("SECRET_ACCESS_KEY" in name for name in env)  # the operator reads the keys, never its env


def test_operator_may_get_only_the_named_secrets():
    assert not any(allows(_rules(render_chart()), "get", "", "secrets", name=n) for n in ("mlpipeline-s3", None))
    rules = _rules(render_chart({**MINIO, "storage": {**MINIO["storage"], "extraSecretNames": ["team-a-s3"]}}))
    assert allows(rules, "get", "", "secrets", name="mlpipeline-s3")
    assert allows(rules, "get", "", "secrets", name="team-a-s3")
    assert not allows(rules, "get", "", "secrets", name="other")
    assert not allows(rules, "list", "", "secrets", name="mlpipeline-s3")


@pytest.mark.parametrize("values, message", [
    ({"training": {"backend": "kfp", "kfp": {"endpoint": "http://kfp", "artifactRoot": "file:///var/lib/mlops"}}},
     "training.kfp.artifactRoot must be an s3:// prefix"),
    ({"storage": {"secretName": "s3"}, "training": {"kfp": {"artifactRoot": "/var/lib/mlops/artifacts"}}},
     "training.kfp.artifactRoot must be an s3:// prefix"),
    ({"storage": {"endpoint": "minio:9000"}}, "storage.endpoint must be an http:// or https:// URL"),
    ({"storage": {"verifyTls": "no"}}, "storage.verifyTls must be true or false"),
    ({"storage": {"extraSecretNames": ["a"]}}, "storage.extraSecretNames needs storage.secretName"),
])
def test_combinations_that_cannot_work_are_refused_naming_the_value(values, message):
    with pytest.raises(helm.HelmError, match=message):
        render_chart(values)


def test_local_backend_with_storage_keeps_its_models_in_the_store():
    """With storage configured the local backend writes under the artifact root (the operator's Backends
    switches on storage.secretName / storage.endpoint); the default install says where models stay."""
    env = _env(render_chart({"storage": {"secretName": "s3", "endpoint": "https://s3.example"}}))
    assert env["MLOPS_TRAINING_BACKEND"] == "local" and env["MLOPS_ARTIFACT_ROOT"].startswith("s3://")


def _monitor_container(objects) -> dict:
    deployment = next(d for d in by_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-monitor"))
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_with_storage_the_monitor_writes_its_snapshots_where_pipeline_pods_read_them():
    monitor = _monitor_container(render_chart({**MINIO, "monitor": {"enabled": True}}))
    assert "--export-root=s3://mlpipeline/mlops-operator/monitor-exports" in monitor["args"]
    assert "--archive-root=s3://mlpipeline/mlops-operator/monitor-records" in monitor["args"]
    env = {e["name"]: e for e in monitor["env"]}
    assert env["MLOPS_S3_ENDPOINT"]["value"] == "http://minio-service.kubeflow:9000"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlpipeline-s3", "key": "RCLONE_CONFIG_S3_ACCESS_KEY_ID"}  # the one Secret, Seldon's format
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"
    chosen = _monitor_container(render_chart({**MINIO, "monitor": {"enabled": True, "exportRoot": "s3://lake/x"}}))
    assert "--export-root=s3://lake/x" in chosen["args"]
    plain = _monitor_container(render_chart({"monitor": {"enabled": True}}))
    assert not any(a.startswith(("--export-root", "--archive-root")) for a in plain["args"]) and "env" not in plain


def test_the_bare_defaults_are_refused_naming_what_to_set():
    """Local training without object storage could never serve what it trains (issue 12, item 5)."""
    with pytest.raises(helm.HelmError, match=r"training.backend=local without object storage .* "
                                             r"training.local.trainOnly=true"):
        render_chart({}, exact=True)
    assert render_chart({"training": {"local": {"trainOnly": True}}}, exact=True)
    assert render_chart({"storage": {"endpoint": "http://minio-service.kubeflow:9000"}}, exact=True)
    assert "NONE (training.local.trainOnly)" in chart_notes({"training": {"local": {"trainOnly": True}}})
