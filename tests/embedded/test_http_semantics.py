"""Object-store semantics of the embedded API, exercised over real HTTP with aiohttp."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from mlops_operator.embedded import EmbeddedAPIServer

MLP = "/apis/mlops.dev/v1alpha1/namespaces/default/mlprojects"
CM = "/api/v1/namespaces/default/configmaps"


def project(name: str = "iris", version: str = "v1", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": name, **meta},
            "spec": {"dataset": {"uri": "sklearn:iris", "version": version, "target": "target"},
                     "candidates": [{"name": "lr", "estimator": "LogisticRegression"}]}}


@pytest.fixture
async def http(api: EmbeddedAPIServer):
    async with aiohttp.ClientSession(api.url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               content_type: str = "application/json", **params: str) -> tuple[int, dict[str, Any]]:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    async with http.request(method, path, data=data, params=params or None,
                            headers={"Content-Type": content_type}) as response:
        return response.status, await response.json()


async def test_create_sets_server_metadata_and_rejects_duplicates(http) -> None:
    status, obj = await call(http, "POST", MLP, project())
    assert status == 201
    meta = obj["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0 and meta["namespace"] == "default"

    status, error = await call(http, "POST", MLP, project())
    assert status == 409 and error["kind"] == "Status" and error["reason"] == "AlreadyExists"
    assert error["message"] == 'mlprojects.mlops.dev "iris" already exists'

    status, error = await call(http, "GET", f"{MLP}/nope")
    assert status == 404 and error["reason"] == "NotFound" and error["details"]["name"] == "nope"


async def test_generate_name(http) -> None:
    body = project()
    body["metadata"] = {"generateName": "run-"}
    status, obj = await call(http, "POST", MLP, body)
    assert status == 201
    name = obj["metadata"]["name"]
    assert name.startswith("run-") and len(name) == len("run-") + 5


async def test_resource_version_is_global_monotonic_and_stale_writes_conflict(http) -> None:
    _, first = await call(http, "POST", MLP, project("a"))
    _, second = await call(http, "POST", CM, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])

    stale = first["metadata"]["resourceVersion"]
    _, updated = await call(http, "PATCH", f"{MLP}/a", {"metadata": {"labels": {"x": "1"}}},
                            "application/merge-patch+json")
    assert int(updated["metadata"]["resourceVersion"]) > int(stale)

    replacement = json.loads(json.dumps(first))
    replacement["spec"]["dataset"]["version"] = "v2"
    status, error = await call(http, "PUT", f"{MLP}/a", replacement)
    assert status == 409 and error["reason"] == "Conflict"
    assert "the object has been modified" in error["message"]

    status, error = await call(http, "PATCH", f"{MLP}/a",
                               [{"op": "test", "path": "/metadata/resourceVersion", "value": stale},
                                {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}],
                               "application/json-patch+json")
    assert status == 422, error  # kopf relies on this to retry its finalizer patches
    status, error = await call(http, "PATCH", f"{MLP}/a", {"metadata": {"resourceVersion": stale, "labels": {"y": "2"}}},
                               "application/merge-patch+json")
    assert status == 409

    replacement["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
    status, replaced = await call(http, "PUT", f"{MLP}/a", replacement)
    assert status == 200 and replaced["spec"]["dataset"]["version"] == "v2"


async def test_generation_changes_only_with_spec(http) -> None:
    _, obj = await call(http, "POST", MLP, project())
    _, obj = await call(http, "PATCH", f"{MLP}/iris", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json")
    assert obj["metadata"]["generation"] == 1
    _, obj = await call(http, "PATCH", f"{MLP}/iris/status", {"status": {"phase": "Training"}},
                        "application/merge-patch+json")
    assert obj["metadata"]["generation"] == 1 and obj["status"]["phase"] == "Training"
    _, obj = await call(http, "PATCH", f"{MLP}/iris", {"spec": {"dataset": {"version": "v2"}}},
                        "application/merge-patch+json")
    assert obj["metadata"]["generation"] == 2
    rv = obj["metadata"]["resourceVersion"]
    _, same = await call(http, "PATCH", f"{MLP}/iris", {"spec": {"dataset": {"version": "v2"}}},
                         "application/merge-patch+json")
    assert same["metadata"]["resourceVersion"] == rv, "a no-op patch must not bump resourceVersion"


async def test_status_subresource_is_separate_from_the_main_object(http) -> None:
    body = project()
    body["status"] = {"phase": "Sneaky"}
    _, obj = await call(http, "POST", MLP, body)
    assert "status" not in obj, "status is dropped on create, like the API server does"

    _, obj = await call(http, "PATCH", f"{MLP}/iris/status",
                        {"status": {"phase": "Ready"}, "spec": {"dataset": {"version": "ignored"}}},
                        "application/merge-patch+json")
    assert obj["status"]["phase"] == "Ready" and obj["spec"]["dataset"]["version"] == "v1"

    _, obj = await call(http, "PATCH", f"{MLP}/iris", {"status": {"phase": "Hacked"}, "metadata": {"labels": {"a": "b"}}},
                        "application/merge-patch+json")
    assert obj["status"]["phase"] == "Ready" and obj["metadata"]["labels"] == {"a": "b"}

    obj["status"]["phase"] = "Replaced"
    status, obj = await call(http, "PUT", f"{MLP}/iris/status", obj)
    assert status == 200 and obj["status"]["phase"] == "Replaced"

    status, error = await call(http, "PATCH", f"{MLP}/iris/status", {"status": {"observedGeneration": "one"}},
                               "application/merge-patch+json")
    assert status == 422 and "status.observedGeneration" in error["message"]


async def test_finalizers_hold_deletion_until_removed(http) -> None:
    await call(http, "POST", MLP, project(finalizers=["example.com/hold"]))
    status, obj = await call(http, "DELETE", f"{MLP}/iris")
    assert status == 200 and obj["metadata"]["deletionTimestamp"]
    status, obj = await call(http, "GET", f"{MLP}/iris")
    assert status == 200 and obj["metadata"]["deletionTimestamp"]

    status, _ = await call(http, "PATCH", f"{MLP}/iris", {"metadata": {"finalizers": None}}, "application/merge-patch+json")
    assert status == 200
    status, _ = await call(http, "GET", f"{MLP}/iris")
    assert status == 404


async def test_delete_preconditions(http) -> None:
    _, obj = await call(http, "POST", MLP, project())
    status, error = await call(http, "DELETE", f"{MLP}/iris", {"preconditions": {"uid": "other"}})
    assert status == 409
    status, _ = await call(http, "DELETE", f"{MLP}/iris",
                           {"propagationPolicy": "Foreground", "preconditions": {"uid": obj["metadata"]["uid"]}})
    assert status == 200


async def test_json_patch_and_strategic_merge_patch_rules(http) -> None:
    await call(http, "POST", MLP, project())
    status, obj = await call(http, "PATCH", f"{MLP}/iris", [
        {"op": "replace", "path": "/spec/dataset/version", "value": "v3"},
        {"op": "add", "path": "/metadata/labels", "value": {"tier": "gold"}},
    ], "application/json-patch+json")
    assert status == 200 and obj["spec"]["dataset"]["version"] == "v3" and obj["metadata"]["labels"]["tier"] == "gold"

    status, error = await call(http, "PATCH", f"{MLP}/iris", {"spec": {}}, "application/strategic-merge-patch+json")
    assert status == 415 and error["reason"] == "UnsupportedMediaType"

    await call(http, "POST", CM, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    status, obj = await call(http, "PATCH", f"{CM}/c", {"data": {"b": "2"}, "$setElementOrder/x": [{"k": "v"}]},
                             "application/strategic-merge-patch+json")
    assert status == 200 and obj["data"] == {"a": "1", "b": "2"} and "$setElementOrder/x" not in obj


async def test_server_side_apply_creates_then_merges(http) -> None:
    manifest = ("apiVersion: mlops.dev/v1alpha1\nkind: MLProject\nmetadata:\n  name: ssa\nspec:\n"
                "  dataset: {uri: 'sklearn:iris', version: v1, target: target}\n"
                "  candidates: [{name: lr, estimator: LogisticRegression}]\n")
    status, obj = await call(http, "PATCH", f"{MLP}/ssa", manifest, "application/apply-patch+yaml", fieldManager="me")
    assert status == 201 and obj["metadata"]["generation"] == 1
    status, obj = await call(http, "PATCH", f"{MLP}/ssa", manifest.replace("v1,", "v2,"), "application/apply-patch+yaml",
                             fieldManager="me", force="true")
    assert status == 200 and obj["spec"]["dataset"]["version"] == "v2" and obj["metadata"]["generation"] == 2


async def test_list_selectors_kind_and_all_namespaces(http) -> None:
    await call(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "other"}})
    await call(http, "POST", MLP, project("a", labels={"team": "x", "tier": "gold"}))
    await call(http, "POST", MLP, project("b", labels={"team": "y"}))
    await call(http, "POST", "/apis/mlops.dev/v1alpha1/namespaces/other/mlprojects", project("c", labels={"team": "x"}))

    def names(body: dict[str, Any]) -> list[str]:
        return sorted(item["metadata"]["name"] for item in body["items"])

    _, body = await call(http, "GET", MLP)
    assert body["kind"] == "MLProjectList" and body["apiVersion"] == "mlops.dev/v1alpha1"
    assert body["metadata"]["resourceVersion"] and names(body) == ["a", "b"]
    assert all(item["kind"] == "MLProject" for item in body["items"])
    _, body = await call(http, "GET", "/apis/mlops.dev/v1alpha1/mlprojects")
    assert names(body) == ["a", "b", "c"]
    _, body = await call(http, "GET", "/apis/mlops.dev/v1alpha1/mlprojects", labelSelector="team=x")
    assert names(body) == ["a", "c"]
    _, body = await call(http, "GET", MLP, labelSelector="team in (x,y),!tier")
    assert names(body) == ["b"]
    _, body = await call(http, "GET", "/apis/mlops.dev/v1alpha1/mlprojects", fieldSelector="metadata.namespace=other")
    assert names(body) == ["c"]
    _, body = await call(http, "GET", MLP, fieldSelector="metadata.name=b")
    assert names(body) == ["b"]


async def test_namespaces_are_listed_and_required(http) -> None:
    status, body = await call(http, "GET", "/api/v1/namespaces")
    assert status == 200 and {"default", "kube-system"} <= {item["metadata"]["name"] for item in body["items"]}
    status, error = await call(http, "POST", "/apis/mlops.dev/v1alpha1/namespaces/missing/mlprojects", project())
    assert status == 404 and 'namespaces "missing" not found' in error["message"]


async def _watch_lines(http: aiohttp.ClientSession, path: str, count: int, **params: str) -> list[dict[str, Any]]:
    events = []
    async with http.get(path, params={"watch": "true", **params}) as response:
        assert response.status == 200 and response.content_type == "application/json"
        async for line in response.content:
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


async def test_watch_from_resource_version_and_timeout(http) -> None:
    _, first = await call(http, "POST", MLP, project("a"))
    since = first["metadata"]["resourceVersion"]
    await call(http, "POST", MLP, project("b"))
    await call(http, "PATCH", f"{MLP}/a", {"metadata": {"labels": {"k": "v"}}}, "application/merge-patch+json")
    await call(http, "DELETE", f"{MLP}/b")

    events = await _watch_lines(http, MLP, 3, resourceVersion=since)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]

    initial = await _watch_lines(http, MLP, 1)
    assert initial[0]["type"] == "ADDED" and initial[0]["object"]["metadata"]["name"] == "a"

    async with http.get(MLP, params={"watch": "true", "resourceVersion": since, "timeoutSeconds": "1"}) as response:
        lines = [line async for line in response.content]  # the server ends the stream by itself
    assert len(lines) == 3


async def test_watch_streams_live_events_with_selectors(http, api: EmbeddedAPIServer) -> None:
    async def produce() -> None:
        while not api.store.watch_count:  # write only once the watch listens: the events must come live
            await asyncio.sleep(0.01)
        await call(http, "POST", MLP, project("plain"))
        await call(http, "POST", MLP, project("chosen", labels={"pick": "me"}))
        await call(http, "PATCH", f"{MLP}/chosen", {"metadata": {"labels": {"pick": None}}}, "application/merge-patch+json")

    producer = asyncio.create_task(produce())
    events = await asyncio.wait_for(_watch_lines(http, MLP, 2, labelSelector="pick=me", resourceVersion="0"), 10)
    await producer
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "chosen"), ("DELETED", "chosen")]


async def test_watch_too_old_resource_version_is_gone() -> None:
    async with EmbeddedAPIServer(watch_history=5) as server, aiohttp.ClientSession(server.url) as http:
        for number in range(20):
            await call(http, "POST", CM, {"metadata": {"name": f"c{number}"}})
        events = await _watch_lines(http, CM, 1, resourceVersion="1")
        assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


async def test_crd_registration_and_removal(http) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Cluster",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    status, created = await call(http, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status == 201
    assert {c["type"]: c["status"] for c in created["status"]["conditions"]}["Established"] == "True"

    _, groups = await call(http, "GET", "/apis")
    assert "example.com" in [group["name"] for group in groups["groups"]]
    _, resources = await call(http, "GET", "/apis/example.com/v1")
    assert resources["resources"][0]["shortNames"] == ["wd"] and resources["resources"][0]["namespaced"] is False
    status, _ = await call(http, "POST", "/apis/example.com/v1/widgets", {"metadata": {"name": "w1"}, "size": 3})
    assert status == 201

    status, _ = await call(http, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    assert status == 200
    status, _ = await call(http, "GET", "/apis/example.com/v1/widgets")
    assert status == 404
    _, groups = await call(http, "GET", "/apis")
    assert "example.com" not in [group["name"] for group in groups["groups"]]


async def test_discovery_documents(http) -> None:
    _, core = await call(http, "GET", "/api/v1")
    names = {resource["name"] for resource in core["resources"]}
    assert {"namespaces", "events", "configmaps", "secrets", "namespaces/status"} <= names
    _, ours = await call(http, "GET", "/apis/mlops.dev/v1alpha1")
    by_name = {resource["name"]: resource for resource in ours["resources"]}
    assert by_name["mlprojects"]["shortNames"] == ["mlp"] and by_name["mlprojects"]["categories"] == ["mlops"]
    assert "watch" in by_name["mlprojects"]["verbs"] and by_name["mlprojects/status"]["verbs"] == ["get", "patch", "update"]
    _, group = await call(http, "GET", "/apis/events.k8s.io")
    assert group["preferredVersion"]["groupVersion"] == "events.k8s.io/v1"
    _, api = await call(http, "GET", "/api")
    assert api["versions"] == ["v1"]


async def test_table_output_uses_printer_columns(http) -> None:
    await call(http, "POST", MLP, project())
    await call(http, "PATCH", f"{MLP}/iris/status", {"status": {"phase": "Ready", "champion": {"trainingRun": "r1", "value": 0.9712, "display": "0.971"}}},
               "application/merge-patch+json")
    async with http.get(MLP, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}) as resp:
        table = await resp.json()
    assert table["kind"] == "Table"
    columns = [column["name"] for column in table["columnDefinitions"]]
    assert columns == ["Name", "Phase", "Dataset", "Metric", "Champion", "Score", "Serving", "Age"]
    cells = dict(zip(columns, table["rows"][0]["cells"]))
    assert cells["Name"] == "iris" and cells["Phase"] == "Ready" and cells["Dataset"] == "v1"
    assert cells["Champion"] == "r1" and cells["Score"] == "0.971" and cells["Metric"] is None  # rounded for people
    assert cells["Age"].endswith("s")


async def test_openapi_v3_describes_custom_kinds(http) -> None:
    _, index = await call(http, "GET", "/openapi/v3")
    url = index["paths"]["apis/mlops.dev/v1alpha1"]["serverRelativeURL"]
    async with http.get(url) as response:
        document = await response.json()
    schema = document["components"]["schemas"]["dev.mlops.v1alpha1.MLProject"]
    assert schema["x-kubernetes-group-version-kind"] == [{"group": "mlops.dev", "version": "v1alpha1", "kind": "MLProject"}]
    assert "dataset" in schema["properties"]["spec"]["properties"]
    patch = document["paths"]["/apis/mlops.dev/v1alpha1/namespaces/{namespace}/mlprojects/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "fieldValidation" in [parameter["name"] for parameter in patch["parameters"]]


async def test_request_history_stays_bounded(http, api: EmbeddedAPIServer) -> None:
    bound = api.emulator.request_history
    for _ in range(3 * bound):
        async with http.get("/api/v1/namespaces/default") as response:
            assert response.status == 200
    assert api.emulator.retained_requests == bound
    assert len(list(api.emulator)) == bound


async def test_kmock_reactions_still_override_for_fault_injection(http, api: EmbeddedAPIServer) -> None:
    api.emulator["get /api/v1/namespaces/default/configmaps"] << 503
    status = (await http.get(CM)).status
    assert status == 503
    status, _ = await call(http, "GET", "/api/v1/namespaces")
    assert status == 200
