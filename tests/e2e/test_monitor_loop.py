"""The monitor through the operator, in the embedded default (`make run`): traffic through a canary is
recorded per predictor with request ids, labels posted for half of it show up as labelled counts in
the ModelDeployment's status, and the monitor's export is a dataset an MLProject trains on."""
from __future__ import annotations

import pytest
import requests

from .harness import FEATURES, FRAME, Kube, ThreadedDevCluster, error_lines, make_model, status

pytestmark = pytest.mark.e2e
N = 60


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None) as c:
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


def v2(row: dict) -> dict:
    return {"parameters": {"content_type": "pd"},
            "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [float(v)]} for k, v in row.items()]}


def test_canary_traffic_is_recorded_labelled_in_status_and_exported_for_training(cluster, tmp_path):
    kube = Kube(cluster.kubeconfig)
    token = cluster.cluster.monitor_token_file.read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    v1, v2_uri = make_model(tmp_path / "v1"), make_model(tmp_path / "v2", flip=True)
    kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                                     "metadata": {"name": "watched"},
                                     "spec": {"model": {"uri": v1}, "strategy": {"type": "direct"}}})
    kube.wait("modeldeployments", "watched", lambda o: status(o).get("phase") == "Serving", 120, "v1 serving")
    kube.patch("modeldeployments", "watched", {"spec": {"model": {"uri": v2_uri}, "paused": True, "strategy": {
        "type": "canary", "canary": {"steps": [50, 100], "interval": "1s"}}}})
    md = kube.wait("modeldeployments", "watched",
                   lambda o: status(o).get("step") == 0 and (status(o).get("lastDecision") or {}).get("action") == "Paused",
                   120, "paused at 50%")
    assert status(md)["feedbackAddress"] == f"{cluster.cluster.monitor_url}/feedback"
    url = status(md)["seldon"]["address"]
    predictor_role = {status(md)[r]["predictor"]: r for r in ("stable", "candidate")}

    answered: dict[str, tuple[str, int]] = {}
    with requests.Session() as http:
        for i in range(N):
            row = FRAME.iloc[i]
            resp = http.post(f"{url}/v2/models/model/infer", json=v2(row[FEATURES].to_dict()), timeout=30)
            assert resp.status_code == 200
            answered[resp.headers["x-request-id"]] = (predictor_role[resp.headers["x-seldon-predictor"]],
                                                     int(row["target"]))
        mine = http.post(f"{url}/v2/models/model/infer", json=v2(FRAME.iloc[0][FEATURES].to_dict()),
                         headers={"x-request-id": "client-chosen-1"}, timeout=30)
        assert mine.headers["x-request-id"] == "client-chosen-1"  # a client's own id is kept
    assert {role for role, _ in answered.values()} == {"stable", "candidate"}

    half = list(answered.items())[: N // 2]
    resp = requests.post(status(md)["feedbackAddress"], headers=auth, timeout=30,
                         json=[{"requestId": rid, "label": y} for rid, (_, y) in half])
    assert resp.status_code == 200 and resp.json()["unknown"] == [], resp.text
    forged = requests.post(status(md)["feedbackAddress"], json={"requestId": half[0][0], "label": 1}, timeout=30)
    assert forged.status_code == 401

    def counted(obj: dict) -> bool:
        arms = status(obj).get("arms") or {}
        return all((arms.get(role) or {}).get("labelled") == sum(r == role for _, (r, _) in half)
                   and (arms.get(role) or {}).get("records", 0) >= sum(r == role for r, _ in answered.values())
                   for role in ("stable", "candidate"))

    kube.wait("modeldeployments", "watched", counted, 60, "records and labels per arm in status")

    export = requests.post(f"{cluster.cluster.monitor_url}/export", headers=auth, timeout=60,
                           json={"namespace": "default", "deployment": "watched", "target": "target"})
    assert export.status_code == 201, export.text
    snapshot = export.json()
    assert snapshot["rows"] == N // 2
    kube.create("mlprojects", {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "live"},
                "spec": {"dataset": {"uri": snapshot["uri"], "version": "live-1", "target": "target", "format": "csv",
                                     "schema": {"columns": [{"name": f, "type": "float"} for f in FEATURES]
                                                + [{"name": "target", "type": "int", "min": 0, "max": 1}]}},
                         "candidates": [{"name": "lr", "estimator": "LogisticRegression"}],
                         "metric": {"name": "roc_auc", "minimum": 0.5}, "training": {"testSize": 0.3}}})
    run = kube.wait("trainingruns", "live-live-1", lambda o: status(o).get("phase") in ("Blessed", "Rejected", "Failed"),
                    600, "training on the live snapshot")
    assert status(run)["phase"] == "Blessed", status(run)
    assert status(run)["lineage"]["datasetDigest"] == snapshot["digest"]
