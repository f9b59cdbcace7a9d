"""BatchPrediction end to end in the embedded default: the example project trains, its champion is served and
scores a file of new rows in batch; every accepted row gets the prediction the served model answers, rejected rows
carry their reason; bad inputs end in a condition and an Event naming the cause; a scheduled one keeps a bounded
history."""
from __future__ import annotations

import copy
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from mlops_operator.devcluster import EXAMPLES

from .harness import Kube, ThreadedDevCluster, error_lines, send, status

pytestmark = pytest.mark.e2e

TRAINING = 600  # seconds a training may take on a loaded 2-core machine
SCORING = 240
FEATURES = ["mean radius", "mean texture", "worst area"]  # the example project's schema


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None) as c:
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


@pytest.fixture(scope="module")
def champion(kube) -> dict:
    """The example project trained, its champion recorded and served by a ModelDeployment."""
    project = next(d for d in yaml.safe_load_all((EXAMPLES / "breast-cancer.yaml").read_text())
                   if d["kind"] == "MLProject")
    kube.create("mlprojects", copy.deepcopy(project))
    kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                                     "metadata": {"name": "breast-cancer"},
                                     "spec": {"projectRef": {"name": "breast-cancer"}, "model": {"champion": True},
                                              "strategy": {"type": "direct"}}})
    project = kube.wait("mlprojects", "breast-cancer", lambda o: (status(o).get("champion") or {}).get("trainingRun"),
                        TRAINING, "champion recorded")
    md = kube.wait("modeldeployments", "breast-cancer", lambda o: status(o).get("phase") == "Serving", 180, "served")
    return {**status(project)["champion"], "address": status(md)["seldon"]["address"]}


@pytest.fixture(scope="module")
def new_rows(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    frame = load_breast_cancer(as_frame=True).frame.sample(300, random_state=7).reset_index(drop=True)
    frame = frame.drop(columns=["target"]).astype(object)
    frame.insert(0, "customer", [f"c{i:04d}" for i in range(len(frame))])
    frame.loc[10, "mean radius"] = "unknown"
    frame.loc[20, "worst area"] = -1.0
    frame.loc[30, "mean texture"] = None
    path = tmp_path_factory.mktemp("input") / "new-rows.csv"
    frame.to_csv(path, index=False)
    return path, frame


def batch(name: str, spec: dict) -> dict:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "BatchPrediction", "metadata": {"name": name}, "spec": spec}


def ready(obj: dict) -> dict:
    return next(c for c in status(obj).get("conditions", []) if c["type"] == "Ready")


def test_a_one_off_batch_of_the_champion_matches_the_served_model(kube, champion, new_rows, http):
    path, frame = new_rows
    kube.create("batchpredictions", batch("score-new-rows", {
        "projectRef": {"name": "breast-cancer"}, "model": {"champion": True},
        "input": {"uri": path.as_uri(), "format": "csv", "version": "2026-11-27"},
        "output": {"keepColumns": ["customer"]}, "chunkSize": 100}))
    bp = kube.wait("batchpredictions", "score-new-rows", lambda o: status(o).get("phase") in ("Succeeded", "Failed"),
                   SCORING, "batch finished")
    st = status(bp)
    assert st["phase"] == "Succeeded", st
    assert (st["rowsScored"], st["rowsRejected"]) == (297, 3)
    assert st["lineage"]["trainingRun"] == champion["trainingRun"] and st["lineage"]["modelUri"] == champion["modelUri"]
    assert st["lineage"]["inputDigest"].startswith("sha256:") and st["lineage"]["pipelineDigest"].startswith("sha256:")
    assert st["lineage"]["inputVersion"] == "2026-11-27"
    assert st["output"]["digest"].startswith("sha256:") and st["summary"]["drift"]["verdict"] in ("NoDrift", "Drifted")
    assert [r["name"] for r in st["lastRuns"]] == ["score-new-rows"]
    assert ready(bp)["status"] == "True" and ready(bp)["reason"] == "Scored"

    predictions = pd.read_parquet(urlparse(st["output"]["uri"]).path).sort_values("row_id")
    rejected = pd.read_parquet(urlparse(st["output"]["rejectedUri"]).path).set_index("row_id")["reason"].to_dict()
    assert rejected == {10: "mean radius: not a number ('unknown')", 20: "worst area: -1 is below min 0",
                        30: "mean texture: missing value"}
    assert len(predictions) == 297 and predictions["row_id"].is_unique and not set(predictions["row_id"]) & set(rejected)
    assert (predictions["customer"] == frame.loc[predictions["row_id"], "customer"].to_numpy()).all()

    sample = predictions.iloc[::5]  # one accepted row in five, against the served model
    rows = [{f: float(frame.loc[i, f]) for f in FEATURES} for i in sample["row_id"]]
    answers = send(champion["address"], rows, http=http)
    assert all(code == 200 for _, code, _ in answers)
    served = [outputs[0]["data"][0] for _, _, outputs in answers]
    assert served == sample["prediction"].tolist()
    events = kube.events_for("score-new-rows")
    assert any(e[1] == "BatchStarted" for e in events) and any(e[1] == "BatchSucceeded" for e in events)


@pytest.mark.parametrize("case, reason, words", [
    ("missing-file", "InputMissing", "no csv file at"),
    ("wrong-columns", "SchemaMismatch", "feature columns missing from the input: worst area"),
    ("wrong-types", "SchemaMismatch", "mean radius: expected float, found text"),
    ("empty-file", "EmptyInput", "the input has no rows"),
])
def test_bad_inputs_end_in_a_condition_and_event_naming_the_cause(kube, champion, new_rows, tmp_path, case, reason,
                                                                  words):
    _, frame = new_rows
    path = tmp_path / "bad.csv"
    if case == "wrong-columns":
        frame.drop(columns=["worst area"]).to_csv(path, index=False)
    elif case == "wrong-types":
        frame.assign(**{"mean radius": "large"}).to_csv(path, index=False)
    elif case == "empty-file":
        frame.iloc[:0].to_csv(path, index=False)
    name = f"bad-{case}"
    kube.create("batchpredictions", batch(name, {"model": {"uri": champion["modelUri"]},
                                                 "input": {"uri": str(path)}}))
    bp = kube.wait("batchpredictions", name, lambda o: status(o).get("phase") in ("Succeeded", "Failed"),
                   SCORING, "batch finished")
    assert status(bp)["phase"] == "Failed"
    condition = ready(bp)
    assert (condition["status"], condition["reason"]) == ("False", reason) and words in condition["message"]
    assert any(e[:2] == ("Warning", reason) and words in e[2] for e in kube.events_for(name))


def test_a_model_that_does_not_exist_is_named(kube):
    kube.create("batchpredictions", batch("no-model", {"model": {"trainingRun": "nope"},
                                                       "input": {"uri": "sklearn:breast_cancer"}}))
    bp = kube.wait("batchpredictions", "no-model", lambda o: status(o).get("conditions"), 60, "condition")
    assert status(bp)["phase"] == "Pending"
    assert ready(bp)["reason"] == "ModelNotFound" and "TrainingRun 'nope' not found" in ready(bp)["message"]
    assert any(e[:2] == ("Warning", "ModelNotFound") for e in kube.events_for("no-model"))


def test_a_scheduled_batch_runs_every_minute_and_keeps_a_bounded_history(kube, champion):
    kube.create("batchpredictions", batch("every-minute", {
        "projectRef": {"name": "breast-cancer"}, "model": {"champion": True},
        "input": {"uri": "sklearn:breast_cancer"}, "schedule": "* * * * *", "historyLimit": 1}))
    first = kube.wait("batchpredictions", "every-minute", lambda o: status(o).get("lastRuns"), 150, "first run")
    first_run = status(first)["lastRuns"][0]
    assert first_run["phase"] == "Succeeded" and first_run["rowsScored"] == 569, first_run
    assert first_run["lineage"]["trainingRun"] == champion["trainingRun"]
    second = kube.wait("batchpredictions", "every-minute",
                       lambda o: status(o).get("lastRuns") and status(o)["lastRuns"][0]["name"] != first_run["name"],
                       150, "second run")
    st = status(second)
    assert len(st["lastRuns"]) == 1 and st["phase"] in ("Scheduled", "Running")
    assert st["lastRuns"][0]["scheduledTime"] > first_run["scheduledTime"]
    assert st["lastScheduledTime"] >= st["lastRuns"][0]["scheduledTime"]
