"""The operator on the kfp training backend: the real operator submits through kfp.Client to a server
speaking KFP's v2beta1 REST API that really executes the compiled IR. An API outage during submit
shows as a condition and an event, is retried, and never creates a second run."""
from __future__ import annotations


import pytest

from tests.training.kfp_fake import FakeKfp, ThreadedKfp

from .harness import Kube, ThreadedDevCluster, error_lines, status

pytestmark = pytest.mark.e2e


PROJECT = {
    "apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "iris"},
    "spec": {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
             "candidates": [{"name": "lr", "estimator": "LogisticRegression", "hyperparameters": {"max_iter": [500]}}],
             "metric": {"name": "accuracy", "minimum": 0.8}},
}


def test_an_outage_is_retried_visibly_and_creates_exactly_one_run(tmp_path):
    with ThreadedKfp(FakeKfp(tmp_path / "kfp", execute=True)) as kfp:
        kfp.outage = 10_000  # every API call fails until the test lifts it
        env = {"MLOPS_TRAINING_BACKEND": "kfp", "MLOPS_KFP_ENDPOINT": kfp.url,
               "MLOPS_ARTIFACT_ROOT": (tmp_path / "artifacts").as_uri()}
        with ThreadedDevCluster(tmp_path / "dev", examples=None, env=env) as cluster:
            kube = Kube(cluster.kubeconfig)
            kube.create("mlprojects", PROJECT)
            lost = kube.wait("trainingruns", "iris-v1", lambda o: any(
                c["reason"] == "PipelineLost" for c in status(o).get("conditions", [])), 120, "outage reported")
            assert status(lost)["phase"] == "Running"
            assert "attempt 2 of 3" in status(lost)["conditions"][0]["message"]
            kfp.outage = 0
            run = kube.wait("trainingruns", "iris-v1", lambda o: status(o).get("phase") in ("Blessed", "Rejected", "Failed"),
                            600, "run finished after the outage")
            assert status(run)["phase"] == "Blessed", status(run)
            assert status(run)["pipeline"]["backend"] == "kfp"
            assert status(run)["pipeline"]["runId"] in kfp.runs
            assert kfp.created_runs() == 1
            assert ("Warning", "PipelineLost") in [(t, r) for t, r, _ in kube.events_for("iris-v1")]
            assert not error_lines(cluster.operator_log()), error_lines(cluster.operator_log())
