"""The SeldonDeployment builder: golden files per release shape, and Seldon's own CRD schema.

Regenerate the golden files after an intended change with MLOPS_UPDATE_GOLDEN=1.
"""
from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from seldon_schema import errors_of, peer_validator, to_strict_json_schema

from mlops_operator.api.modeldeployment import SeldonStatus
from mlops_operator.decisions.seldon import (
    Predictor,
    desired_seldon_deployment,
    predictor_weights,
    lost_predictors,
    seldon_status,
)
from mlops_operator.serving.crd import seldon_deployment_crd

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "seldon"
OWNER = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "name": "iris", "uid": "0b9c-4e1f"}
LABELS = {"app.kubernetes.io/managed-by": "mlops-operator", "mlops.dev/deployment": "iris"}
STABLE = "file:///models/iris/v1"
CANDIDATE = "s3://models/iris/v2"


def build(predictors, **kwargs):
    kwargs.setdefault("owner", OWNER)
    kwargs.setdefault("replicas", 1)
    kwargs.setdefault("resources", None)
    kwargs.setdefault("labels", LABELS)
    return desired_seldon_deployment("iris", "ml", predictors, **kwargs)


def canary(stable: int, candidate: int):
    return [Predictor("stable", STABLE, stable), Predictor("candidate", CANDIDATE, candidate)]


CASES = {
    "direct": lambda: build([Predictor("stable", STABLE, 100)]),
    "canary-80-20": lambda: build(canary(80, 20)),
    "canary-50-50": lambda: build(canary(50, 50)),
    "canary-0-100": lambda: build(canary(0, 100)),
    "abtest-50-50": lambda: build(
        canary(50, 50), replicas=2,
        resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    ),
    "shadow": lambda: build([Predictor("stable", STABLE, 100), Predictor("shadow", CANDIDATE, 100, shadow=True)]),
    "shadow-partial-custom-image": lambda: build(
        [Predictor("stable", STABLE, 100), Predictor("shadow", CANDIDATE, 25, shadow=True)],
        image="ghcr.io/mlops-dev/mlops-components:0.1.0",
    ),
    "canary-object-store": lambda: build(canary(80, 20), env_secret="mlpipeline-s3"),
    "shadow-logged": lambda: build(
        [Predictor("stable", STABLE, 100), Predictor("shadow", CANDIDATE, 100, shadow=True)],
        logger_url="http://mlops-monitor.mlops-system.svc:8081/log",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden_file(case):
    obj = CASES[case]()
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("MLOPS_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
    assert path.exists(), f"golden file {path} missing; run with MLOPS_UPDATE_GOLDEN=1"
    assert obj == yaml.safe_load(path.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_valid_against_seldons_real_crd(case):
    obj = CASES[case]()
    assert errors_of(peer_validator(), obj) == []


def test_strict_validation_rejects_unknown_and_mistyped_fields():
    """The translated schema is not a rubber stamp: typos and wrong types fail."""
    obj = CASES["canary-80-20"]()
    obj["spec"]["predictors"][0]["trafic"] = 80
    obj["spec"]["predictors"][1]["graph"]["modelUri"] = 7
    errors = errors_of(peer_validator(), obj)
    assert any("trafic" in e for e in errors), errors
    assert any("predictors/1/graph/modelUri" in e for e in errors), errors


def test_weights_are_on_live_predictors_and_sum_to_100():
    for case in CASES:
        obj = CASES[case]()
        live = predictor_weights(obj)
        assert sum(live.values()) == 100, case
        assert all(p.get("shadow") is not True or p["name"] not in live for p in obj["spec"]["predictors"])


def test_payload_logger_on_every_predictor_only_when_asked():
    logged = CASES["shadow-logged"]()
    stable, shadow = logged["spec"]["predictors"]
    base = "http://mlops-monitor.mlops-system.svc:8081/log"
    assert stable["graph"]["logger"] == {"url": f"{base}?modeluri=file%3A%2F%2F%2Fmodels%2Firis%2Fv1", "mode": "all"}
    assert shadow["graph"]["logger"] == {"url": f"{base}?modeluri=s3%3A%2F%2Fmodels%2Firis%2Fv2&shadow=true",
                                         "mode": "all"}
    assert all("logger" not in p["graph"] for p in CASES["shadow"]()["spec"]["predictors"])


def test_protocol_graph_and_owner_reference():
    obj = CASES["shadow"]()
    assert obj["spec"]["protocol"] == "v2"
    ref = obj["metadata"]["ownerReferences"][0]
    assert ref["controller"] is True and ref["blockOwnerDeletion"] is True and ref["uid"] == OWNER["uid"]
    stable, shadow = obj["spec"]["predictors"]
    assert stable["graph"] == {"name": "model", "modelUri": STABLE, "implementation": "SKLEARN_SERVER"}
    assert shadow["shadow"] is True and "traffic" not in shadow  # mirrors every request


@pytest.mark.parametrize(
    "predictors, field",
    [
        ([], "predictors"),
        ([Predictor("stable", STABLE, 90)], "predictors.traffic"),
        ([Predictor("stable", STABLE, 80), Predictor("candidate", CANDIDATE, 30)], "predictors.traffic"),
        ([Predictor("Stable", STABLE, 100)], "predictors[0].name"),
        ([Predictor("a", STABLE, 50), Predictor("a", CANDIDATE, 50)], "predictors[1].name"),
        ([Predictor("a", "", 100)], "predictors[0].modelUri"),
        ([Predictor("a", STABLE, 100, shadow=True)], "predictors"),
        ([Predictor("a", STABLE, 101)], "predictors[0].traffic"),
    ],
)
def test_bad_input_names_the_field(predictors, field):
    with pytest.raises(ValueError) as err:
        build(predictors)
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_owner_without_uid_is_rejected():
    with pytest.raises(ValueError, match="^owner.uid:"):
        build([Predictor("stable", STABLE, 100)], owner={**OWNER, "uid": ""})


def test_status_reader_maps_seldon_status():
    obj = CASES["canary-80-20"]()
    obj["status"] = {
        "state": "Available",
        "address": {"url": "http://iris-default.ml.svc.cluster.local:8000/v2/models/model/infer"},
        "deploymentStatus": {
            "iris-stable-0-model": {"replicas": 2, "availableReplicas": 2},
            "iris-candidate-0-model": {"replicas": 1, "availableReplicas": 0,
                                       "description": "MLServer exited with code -9; restarted 1 times"},
        },
        "replicas": 2,
    }
    assert errors_of(peer_validator(), obj) == []
    status = seldon_status(obj)
    assert status == SeldonStatus(
        name="iris", state="Available",
        address="http://iris-default.ml.svc.cluster.local:8000/v2/models/model/infer",
        replicas={"stable": 2, "candidate": 0},
        unavailable={"candidate": "MLServer exited with code -9; restarted 1 times"},
    )


def test_a_predictor_is_lost_only_after_it_was_available():
    def st(replicas: dict, unavailable: dict) -> SeldonStatus:
        return SeldonStatus(replicas=replicas, unavailable=unavailable)

    starting = st({"v1": 1, "v2": 0}, {"v2": "waiting"})
    assert lost_predictors(None, starting, ["v1", "v2"], still_reported=False) == {}
    crashed = st({"v1": 0, "v2": 0}, {"v1": "MLServer exited with code -9", "v2": "waiting"})
    assert lost_predictors(starting, crashed, ["v1", "v2"], still_reported=False) == {
        "v1": "MLServer exited with code -9"}
    still = st({"v1": 0}, {"v1": "MLServer exited with code -9; restarted 1 times"})
    assert lost_predictors(crashed, still, ["v1"], still_reported=True) == {"v1": still.unavailable["v1"]}
    assert lost_predictors(crashed, still, ["v1"], still_reported=False) == {}
    assert lost_predictors(still, st({"v1": 1}, {}), ["v1"], still_reported=True) == {}
    assert lost_predictors(starting, crashed, ["v2"], still_reported=False) == {}  # not serving: not ours


def test_status_reader_handles_missing_and_failed():
    assert seldon_status(None) is None
    fresh = seldon_status(CASES["direct"]())
    assert fresh is not None and fresh.state is None and fresh.replicas == {}
    obj = CASES["direct"]()
    obj["status"] = {"state": "Failed", "description": "predictor stable: MLServer exited"}
    assert seldon_status(obj).description == "predictor stable: MLServer exited"


def test_our_embedded_crd_is_a_valid_crd_and_accepts_what_we_write():
    crd = seldon_deployment_crd()
    kubernetes_validate.validate(crd, "1.30", strict=True)
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    from jsonschema import Draft7Validator

    ours = Draft7Validator(to_strict_json_schema(version["schema"]["openAPIV3Schema"]))
    for case in CASES:
        assert errors_of(ours, CASES[case]()) == [], case
    bad = CASES["direct"]()
    bad["spec"]["predictors"][0]["traffic"] = "all"
    assert errors_of(ours, bad)


def test_models_on_an_object_store_name_the_storage_secret_for_seldons_initializer():
    """envSecretRefName (a field of Seldon's predictor graph unit, checked against its CRD above) goes on
    predictors whose model is on s3:// or gs://; a file:// model needs no credentials."""
    stable, candidate = CASES["canary-object-store"]()["spec"]["predictors"]
    assert candidate["graph"]["envSecretRefName"] == "mlpipeline-s3"
    assert "envSecretRefName" not in stable["graph"]
    assert all("envSecretRefName" not in p["graph"] for p in CASES["canary-80-20"]()["spec"]["predictors"])
    gcs = build([Predictor("stable", "gs://bucket/model", 100)], env_secret="gcs-keys")
    assert gcs["spec"]["predictors"][0]["graph"]["envSecretRefName"] == "gcs-keys"
