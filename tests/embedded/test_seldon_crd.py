"""Seldon Core's real SeldonDeployment CRD (1 MB, three versions) served by the embedded API."""
from __future__ import annotations

import json

import aiohttp
import pytest

from mlops_operator.embedded import EmbeddedAPIServer

SELDON_CRD = "../shared/peer/seldon-core-v1.17.1/machinelearning.seldon.io_seldondeployments.yaml"
SDEP = "/apis/machinelearning.seldon.io/v1/namespaces/default/seldondeployments"


def seldon_deployment() -> dict:
    predictor = {"name": "stable", "replicas": 1, "traffic": 100,
                 "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "file:///m",
                           "children": []},
                 "componentSpecs": [{"spec": {"containers": [{"name": "classifier", "resources": {
                     "requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"cpu": 1}}}]}}]}
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": {"name": "iris"},
            "spec": {"protocol": "v2", "predictors": [predictor]}}


async def test_seldon_deployment_round_trip(api: EmbeddedAPIServer, repo_root) -> None:
    crd = repo_root / SELDON_CRD
    if not crd.exists():
        pytest.skip(f"Seldon Core CRD not found at {crd}")
    api.apply_files(crd)
    async with aiohttp.ClientSession(api.url) as http:
        async with http.post(SDEP, json=seldon_deployment()) as response:
            created = await response.json()
        assert response.status == 201, created
        container = created["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"cpu": 1}, "int-or-string quantities must survive pruning"

        async with http.patch(f"{SDEP}/iris/status", data=json.dumps({"status": {"state": "Available"}}),
                              headers={"Content-Type": "application/merge-patch+json"}) as response:
            assert response.status == 200 and (await response.json())["status"]["state"] == "Available"

        invalid = seldon_deployment()
        invalid["spec"]["predictors"][0]["replicas"] = "many"
        async with http.post(SDEP, json={**invalid, "metadata": {"name": "bad"}}) as response:
            error = await response.json()
        assert response.status == 422 and "spec.predictors[0].replicas" in error["message"]

        async with http.get("/apis/machinelearning.seldon.io/v1alpha2") as response:
            assert {"seldondeployments", "seldondeployments/status"} <= {
                resource["name"] for resource in (await response.json())["resources"]}
