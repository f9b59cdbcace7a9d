"""CRD schema validation over HTTP with the project's real CRDs: 422s worded like Kubernetes."""
from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from mlops_operator.embedded import EmbeddedAPIServer

MD = "/apis/mlops.dev/v1alpha1/namespaces/default/modeldeployments"
MLP = "/apis/mlops.dev/v1alpha1/namespaces/default/mlprojects"


def deployment(name: str = "iris", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name},
            "spec": {"model": {"trainingRun": "iris-1"}, **spec}}


def project(**spec: Any) -> dict[str, Any]:
    base = {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
            "candidates": [{"name": "lr", "estimator": "LogisticRegression"}]}
    base.update(spec)
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "iris"},
            "spec": {key: value for key, value in base.items() if value is not None}}


@pytest.fixture
async def post(api: EmbeddedAPIServer):
    async with aiohttp.ClientSession(api.url) as http:
        async def send(path: str, body: dict[str, Any], **params: str) -> tuple[int, dict[str, Any]]:
            async with http.post(path, data=json.dumps(body), params=params or None,
                                 headers={"Content-Type": "application/json"}) as response:
                return response.status, await response.json()
        yield send


async def test_canary_step_out_of_range_is_rejected_with_the_field(post) -> None:
    status, error = await post(MD, deployment(strategy={"type": "canary", "canary": {"steps": [10, 150]}}))
    assert status == 422 and error["reason"] == "Invalid"
    assert error["message"] == ('ModelDeployment.mlops.dev "iris" is invalid: spec.strategy.canary.steps: '
                                'Invalid value: "object": canary steps must be between 1 and 100')
    assert error["details"]["causes"][0]["field"] == "spec.strategy.canary.steps"


async def test_canary_steps_must_increase_via_is_sorted(post) -> None:
    status, error = await post(MD, deployment(strategy={"type": "canary", "canary": {"steps": [50, 10]}}))
    assert status == 422 and "canary steps must increase" in error["message"]


async def test_valid_deployment_is_accepted(post) -> None:
    status, obj = await post(MD, deployment(strategy={"type": "canary", "canary": {"steps": [10, 50, 100], "interval": "30s"}},
                                            replicas=2))
    assert status == 201 and obj["spec"]["strategy"]["canary"]["steps"] == [10, 50, 100]


async def test_model_needs_exactly_one_source(post) -> None:
    body = deployment()
    body["spec"]["model"] = {"trainingRun": "a", "uri": "s3://b"}
    status, error = await post(MD, body)
    assert status == 422 and 'spec.model: Invalid value: "object": set exactly one of' in error["message"]


async def test_project_without_dataset_is_rejected(post) -> None:
    status, error = await post(MLP, project(dataset=None))
    assert status == 422
    # A schema error blocks the CEL rules, and the API server says so (apiextensions' hasBlockingErr).
    assert error["message"] == ('MLProject.mlops.dev "iris" is invalid: [spec.dataset: Required value, <nil>: '
                                'Invalid value: "null": some validation rules were not checked because the object '
                                'was invalid; correct the existing errors to complete validation]')


@pytest.mark.parametrize("spec, field, words", [
    ({"metric": {"name": "speed"}}, "spec.metric.name", 'Unsupported value: "speed"'),
    ({"training": {"testSize": 1}}, "spec.training.testSize", "should be less than 1"),
    ({"training": {"testSize": 0}}, "spec.training.testSize", "should be greater than 0"),
    ({"training": {"bootstrapSamples": 5}}, "spec.training.bootstrapSamples", "greater than or equal to 10"),
    ({"training": {"seed": "x"}}, "spec.training.seed", "must be of type integer"),
    ({"candidates": []}, "spec.candidates", "should have at least 1 items"),
    ({"candidates": [{"name": "Bad_Name", "estimator": "X"}]}, "spec.candidates[0].name", "should match"),
    ({"candidates": [{"name": "a" * 41, "estimator": "X"}]}, "spec.candidates[0].name", "Too long"),
    ({"candidates": [{"name": "a", "estimator": "X"}, {"name": "a", "estimator": "Y"}]}, "spec.candidates",
     "candidate names must be unique"),
    ({"dataset": {"uri": "u", "version": "v", "target": "t", "schema": {"columns": [
        {"name": "c", "type": "float", "min": 5, "max": 1}]}}}, "spec.dataset.schema.columns[0].min",
     "min must not exceed max"),
])
async def test_schema_rules(post, spec, field, words) -> None:
    status, error = await post(MLP, project(**spec))
    assert status == 422, error
    assert f"{field}: " in error["message"] and words in error["message"]
    assert field in [cause["field"] for cause in error["details"]["causes"]]


async def test_unknown_fields_are_pruned_or_rejected_when_strict(post, api: EmbeddedAPIServer) -> None:
    body = project()
    body["spec"]["surprise"] = 1
    status, error = await post(MLP, body, fieldValidation="Strict")
    assert status == 400 and 'unknown field "spec.surprise"' in error["message"]
    status, obj = await post(MLP, body)
    assert status == 201 and "surprise" not in obj["spec"]
    assert "surprise" not in api.get("mlops.dev/v1alpha1", "MLProject", "iris")["spec"]


async def test_preserve_unknown_fields_keeps_them(post) -> None:
    body = project()
    body["spec"]["candidates"][0]["hyperparameters"] = {"C": [0.1, {"anything": True}]}
    status, obj = await post(MLP, body)
    assert status == 201 and obj["spec"]["candidates"][0]["hyperparameters"]["C"][1] == {"anything": True}


async def test_status_writes_are_validated(post, api: EmbeddedAPIServer) -> None:
    await post(MLP, project())
    async with aiohttp.ClientSession(api.url) as http:
        async with http.patch(f"{MLP}/iris/status", data=json.dumps({"status": {"conditions": [{"type": "Ready"}]}}),
                              headers={"Content-Type": "application/merge-patch+json"}) as response:
            error = await response.json()
    assert response.status == 422
    fields = {cause["field"] for cause in error["details"]["causes"]}
    assert {"status.conditions[0].status", "status.conditions[0].reason"} <= fields


# Found by the fuzz suite (tests/fuzz): each of these once disagreed with a real API server or the models.
async def test_unset_fields_take_defaults_in_cel_rules(post) -> None:
    for strategy in ({"type": "abtest", "abtest": {"duration": "5m"}}, {"type": "canary", "canary": {"interval": "30s"}}):
        status, obj = await post(MD, deployment(name=strategy["type"], strategy=strategy))
        assert status == 201, obj  # not 'no such key: stableWeight'


async def test_schema_errors_block_cel_rules(post) -> None:
    status, error = await post(MD, deployment(strategy={"canary": {"steps": ["ten"]}}))
    assert status == 422 and "spec.strategy.canary.steps[0]: " in error["message"]
    assert "No such overload" not in error["message"] and "some validation rules were not checked" in error["message"]


async def test_pattern_dollar_is_the_end_of_the_text(post) -> None:
    status, error = await post(MD, deployment(strategy={"canary": {"interval": "30s\n"}}))
    assert status == 422 and "spec.strategy.canary.interval: " in error["message"]


async def test_null_hyperparameter_values_are_kept(post) -> None:
    body = project()
    body["spec"]["candidates"][0]["hyperparameters"] = {"max_depth": [None, 5]}
    status, obj = await post(MLP, body)
    assert status == 201 and obj["spec"]["candidates"][0]["hyperparameters"]["max_depth"] == [None, 5]
