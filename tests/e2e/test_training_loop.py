"""What `make run` does, checked end to end: the examples train for real (local kfp backend), the gate
blesses or rejects against the champion, the champion is served, and triggers are deduplicated."""
from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sklearn.datasets import load_breast_cancer

from mlops_operator.devcluster import EXAMPLES

from .harness import Kube, ThreadedDevCluster, error_lines, status

pytestmark = pytest.mark.e2e

TRAINING = 600  # seconds a training may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=EXAMPLES) as c:
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


def phase(obj: dict) -> str | None:
    return status(obj).get("phase")


def ready(obj: dict) -> dict:
    return next(c for c in status(obj).get("conditions", []) if c["type"] == "Ready")


def runs_of(kube: Kube, project: str) -> list[str]:
    return sorted(r["metadata"]["name"] for r in kube.list("trainingruns") if r["spec"]["projectRef"]["name"] == project)


def test_the_example_project_trains_is_blessed_becomes_champion_and_is_served(cluster, kube):
    run = kube.wait("trainingruns", "breast-cancer-v1", lambda o: phase(o) in ("Blessed", "Rejected", "Failed"),
                    TRAINING, "first training finished")
    st = status(run)
    assert phase(run) == "Blessed", st
    assert st["metric"]["name"] == "roc_auc" and st["metric"]["value"] >= 0.9
    assert st["metric"]["lower"] <= st["metric"]["value"] <= st["metric"]["upper"]
    assert st["comparison"]["decision"] == "Blessed"
    assert st["lineage"]["datasetVersion"] == "v1" and st["lineage"]["datasetDigest"]
    assert st["pipeline"]["digest"] and st["pipeline"]["runId"]
    assert {c["candidate"] for c in st["candidates"]} == {"logistic-regression", "random-forest"}
    model_dir = Path(urlparse(st["model"]["uri"]).path)
    assert (model_dir / "model.joblib").is_file() and (model_dir / "model-settings.json").is_file()

    project = kube.wait("mlprojects", "breast-cancer", lambda o: (status(o).get("champion") or {}).get("trainingRun"),
                        60, "champion recorded")
    assert status(project)["champion"]["trainingRun"] == "breast-cancer-v1"
    md = kube.wait("modeldeployments", "breast-cancer", lambda o: phase(o) == "Serving", 180, "champion served")
    assert status(md)["stable"]["trainingRun"] == "breast-cancer-v1"
    kube.wait("mlprojects", "breast-cancer", lambda o: (status(o).get("serving") or {}).get("trainingRun"), 60,
              "serving champion recorded")

    out = subprocess.run(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "get", "mlp,tr,md"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert any(l.split()[:8] == ["NAME", "PHASE", "DATASET", "METRIC", "CHAMPION", "SCORE", "SERVING", "AGE"] for l in lines)
    assert any(l.startswith("mlproject.mlops.dev/breast-cancer") and "breast-cancer-v1" in l for l in lines)
    assert any(l.startswith("trainingrun.mlops.dev/breast-cancer-v1") and "Blessed" in l and "roc_auc" in l for l in lines)
    assert any(l.startswith("modeldeployment.mlops.dev/breast-cancer") and "Serving" in l and "100" in l for l in lines)


def test_a_new_dataset_version_starts_exactly_one_run(kube):
    kube.wait("trainingruns", "breast-cancer-v1", lambda o: phase(o) == "Blessed", TRAINING, "v1 blessed")
    kube.patch("mlprojects", "breast-cancer", {"spec": {"dataset": {"version": "v2"}}})
    kube.wait("trainingruns", "breast-cancer-v2", lambda o: phase(o) in ("Blessed", "Rejected"), TRAINING, "v2 trained")
    assert runs_of(kube, "breast-cancer") == ["breast-cancer-v1", "breast-cancer-v2"]
    assert status(kube.get("trainingruns", "breast-cancer-v2"))["lineage"]["parentChampion"] == "breast-cancer-v1"


def test_a_worse_challenger_is_rejected_with_both_numbers_and_an_event(kube):
    v2 = kube.wait("trainingruns", "breast-cancer-v2", lambda o: phase(o) in ("Blessed", "Rejected"), TRAINING, "v2 done")
    expected = "breast-cancer-v2" if phase(v2) == "Blessed" else "breast-cancer-v1"
    project = kube.wait("mlprojects", "breast-cancer", lambda o: status(o)["champion"]["trainingRun"] == expected,
                        60, "champion up to date")
    champion = status(project)["champion"]
    kube.patch("mlprojects", "breast-cancer", {"spec": {
        "dataset": {"version": "v3"},
        "candidates": [{"name": "stump", "estimator": "DecisionTreeClassifier", "hyperparameters": {"max_depth": [1]}}],
    }})
    run = kube.wait("trainingruns", "breast-cancer-v3", lambda o: phase(o) in ("Blessed", "Rejected", "Failed"),
                    TRAINING, "v3 trained")
    comparison = status(run)["comparison"]
    assert phase(run) == "Rejected", status(run)
    assert comparison["champion"] == champion["trainingRun"]
    assert comparison["candidateValue"] < comparison["championValue"]
    events = [e for e in kube.events_for("breast-cancer-v3") if e[1] == "Rejected"]
    assert events and events[0][0] == "Warning"
    assert f"{comparison['candidateValue']:.4f}" in events[0][2] and f"{comparison['championValue']:.4f}" in events[0][2]
    project = kube.wait("mlprojects", "breast-cancer", lambda o: any(h["trainingRun"] == "breast-cancer-v3"
                        for h in status(o).get("history", [])), 60, "history updated")
    assert status(project)["champion"]["trainingRun"] == champion["trainingRun"]


def test_data_violating_the_schema_fails_at_validation_naming_the_columns(kube, tmp_path):
    frame = load_breast_cancer(as_frame=True).frame[["mean radius", "mean texture", "target"]].copy()
    frame.loc[:10, "mean radius"] = 500.0
    path = tmp_path / "bad.csv"
    frame.drop(columns=["mean texture"]).to_csv(path, index=False)
    kube.create("mlprojects", {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "bad-data"},
                "spec": {"dataset": {"uri": str(path), "version": "v1", "target": "target", "schema": {"columns": [
                    {"name": "mean radius", "type": "float", "min": 0, "max": 50},
                    {"name": "mean texture", "type": "float"},
                    {"name": "target", "type": "int"}]}},
                    "candidates": [{"name": "lr", "estimator": "LogisticRegression"}]}})
    run = kube.wait("trainingruns", "bad-data-v1", lambda o: phase(o) in ("Blessed", "Rejected", "Failed"),
                    TRAINING, "validation finished")
    assert phase(run) == "Failed"
    message = ready(run)["message"]
    assert "mean radius" in message and "mean texture" in message
    assert any(t == "Warning" for t, _, _ in kube.events_for("bad-data-v1"))
    kube.wait("mlprojects", "bad-data", lambda o: phase(o) == "Degraded", 60, "project degraded")


def test_latest_trains_the_newest_version_the_source_lists(kube, tmp_path):
    frame = load_breast_cancer(as_frame=True).frame[["mean radius", "mean texture", "target"]]
    for version, rows in (("2026-09", 200), ("2026-11", 400), ("2026-10", 300)):
        (tmp_path / version).mkdir()
        frame.iloc[:rows].to_csv(tmp_path / version / "train.csv", index=False)
    kube.create("mlprojects", {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "lake"},
                "spec": {"dataset": {"uri": f"{tmp_path}/{{version}}/train.csv", "version": "latest",
                                     "target": "target"},
                         "candidates": [{"name": "lr", "estimator": "LogisticRegression"}],
                         "training": {"bootstrapSamples": 20}}})
    run = kube.wait("trainingruns", "lake-2026-11", lambda o: phase(o) in ("Blessed", "Rejected", "Failed"),
                    TRAINING, "the newest version trained")
    assert phase(run) == "Blessed", status(run)
    assert run["spec"]["datasetVersion"] == "2026-11" and run["spec"]["trigger"] == "dataset-version"
    assert status(run)["lineage"]["datasetUri"] == f"{tmp_path}/2026-11/train.csv"
    project = kube.get("mlprojects", "lake")
    assert status(project)["latestDatasetVersion"]["version"] == "2026-11"
    assert runs_of(kube, "lake") == ["lake-2026-11"]


def test_approval_is_required_and_only_an_approver_counts(kube):
    kube.wait("trainingruns", "penguins-2020", lambda o: phase(o) == "AwaitingApproval", TRAINING, "awaiting approval")
    kube.patch("trainingruns", "penguins-2020", {"spec": {"approval": {"approvedBy": "mallory"}}})
    run = kube.wait("trainingruns", "penguins-2020", lambda o: ready(o)["reason"] == "NotAnApprover", 60, "refused")
    assert "spec.approval.approvedBy" in ready(run)["message"] and phase(run) == "AwaitingApproval"
    kube.patch("trainingruns", "penguins-2020", {"spec": {"approval": {"approvedBy": "alice@example.com"}}})
    run = kube.wait("trainingruns", "penguins-2020", lambda o: phase(o) == "Blessed", 60, "approved")
    assert status(run)["approval"]["approvedBy"] == "alice@example.com" and status(run)["approval"]["approvedAt"]
    kube.wait("modeldeployments", "penguins", lambda o: phase(o) == "Serving", 180, "approved champion served")


def test_what_only_the_operator_can_check_is_a_condition_naming_the_field(kube):
    kube.create("mlprojects", {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "bad-cron"},
                "spec": {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
                         "candidates": [{"name": "lr", "estimator": "LogisticRegression"}],
                         "training": {"schedule": "every monday"}}})
    project = kube.wait("mlprojects", "bad-cron", lambda o: phase(o) == "Invalid", 60, "invalid")
    assert ready(project)["status"] == "False" and ready(project)["reason"] == "InvalidSpec"
    assert ready(project)["message"].startswith("spec.training.schedule:")
    assert runs_of(kube, "bad-cron") == []

    kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                "metadata": {"name": "missing-run"}, "spec": {"model": {"trainingRun": "no-such-run"}}})
    md = kube.wait("modeldeployments", "missing-run", lambda o: phase(o) == "Pending", 60, "pending")
    assert ready(md)["message"].startswith("spec.model.trainingRun:")


def test_a_drift_policy_without_a_deployment_is_reported_not_ignored(kube):
    kube.create("mlprojects", {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "drifty"},
                "spec": {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
                         "candidates": [{"name": "lr", "estimator": "LogisticRegression"}],
                         "drift": {"enabled": True, "retrain": True}}})
    project = kube.wait("mlprojects", "drifty", lambda o: any(c["type"] == "Drifted"
                        for c in status(o).get("conditions", [])), 60, "drift condition")
    drift = next(c for c in status(project)["conditions"] if c["type"] == "Drifted")
    assert (drift["status"], drift["reason"]) == ("Unknown", "NoTraffic")
