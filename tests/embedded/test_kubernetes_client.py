"""The official kubernetes Python client against the embedded API."""
from __future__ import annotations

import copy

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from mlops_operator.embedded import EmbeddedAPIServer

GROUP, VERSION, PLURAL = "mlops.dev", "v1alpha1", "trainingruns"


@pytest.fixture
def api_client(threaded_api: EmbeddedAPIServer, tmp_path):
    kubeconfig = threaded_api.write_kubeconfig(tmp_path / "kubeconfig")
    with config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
        yield api_client


def training_run(name: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TrainingRun", "metadata": {"name": name, "labels": {"p": "iris"}},
            "spec": {"projectRef": {"name": "iris"}}}


def test_custom_objects_crud_and_conflict(api_client) -> None:
    custom = client.CustomObjectsApi(api_client)
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, training_run("r1"))
    assert created["metadata"]["uid"] and created["metadata"]["generation"] == 1

    listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, label_selector="p=iris")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["r1"]
    assert custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, label_selector="p=other")["items"] == []

    patched = custom.patch_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, "r1",
                                                           {"status": {"phase": "Running"}})
    assert patched["status"]["phase"] == "Running"

    stale = copy.deepcopy(created)
    stale["metadata"]["labels"]["p"] = "changed"
    with pytest.raises(ApiException) as conflict:
        custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "r1", stale)
    assert conflict.value.status == 409

    fresh = custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "r1")
    fresh["metadata"]["labels"]["p"] = "changed"
    replaced = custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "r1", fresh)
    assert replaced["metadata"]["labels"]["p"] == "changed" and replaced["status"]["phase"] == "Running"

    with pytest.raises(ApiException) as exists:
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, training_run("r1"))
    assert exists.value.status == 409

    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "r1")
    with pytest.raises(ApiException) as missing:
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "r1")
    assert missing.value.status == 404


def test_core_api_and_watch(api_client) -> None:
    core = client.CoreV1Api(api_client)
    assert {"default", "kube-system"} <= {ns.metadata.name for ns in core.list_namespace().items}
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"),
                                                                    data={"a": "1"}))
    resource_version = core.list_namespaced_config_map("default").metadata.resource_version
    core.patch_namespaced_config_map("cfg", "default", {"data": {"b": "2"}})
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=resource_version,
                                  timeout_seconds=2)
    events = [(event["type"], event["object"].data) for event in stream]
    assert events == [("MODIFIED", {"a": "1", "b": "2"})]
