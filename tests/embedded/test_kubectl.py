"""The real kubectl against the embedded API: apply, get (printer columns), watch, patch, label, wait, delete."""
from __future__ import annotations

import subprocess
import threading
import time

import pytest
import yaml

from mlops_operator.embedded import EmbeddedAPIServer

PROJECT = """
apiVersion: mlops.dev/v1alpha1
kind: MLProject
metadata:
  name: iris
spec:
  dataset:
    uri: sklearn:iris
    version: v1
    target: target
  candidates:
  - name: lr
    estimator: LogisticRegression
"""

DEPLOYMENT = """
apiVersion: mlops.dev/v1alpha1
kind: ModelDeployment
metadata:
  name: iris
spec:
  model:
    trainingRun: iris-1
  strategy:
    type: canary
    canary:
      steps: [{steps}]
"""


def test_apply_with_client_validation_then_get_printer_columns(kubectl, threaded_api: EmbeddedAPIServer) -> None:
    assert "mlproject.mlops.dev/iris created" in kubectl("apply", "-f", "-", input=PROJECT).stdout
    threaded_api.apply({"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "iris"},
                        "status": {"phase": "Ready", "champion": {"trainingRun": "iris-1", "value": 0.9712,
                                                                "display": "0.971"}}})
    lines = kubectl("get", "mlp").stdout.splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "DATASET", "METRIC", "CHAMPION", "SCORE", "SERVING", "AGE"]
    row = lines[1].split()
    assert row[:3] == ["iris", "Ready", "v1"] and "iris-1" in row and "0.971" in row and "0.9712" not in row

    assert "configured" in kubectl("apply", "-f", "-", input=PROJECT.replace("version: v1", "version: v2")).stdout
    assert kubectl("get", "mlp", "iris", "-o", "jsonpath={.spec.dataset.version}").stdout == "v2"


def test_apply_rejects_unknown_fields_like_a_cluster_unless_validation_is_off(kubectl) -> None:
    bogus = PROJECT.replace("    target: target", "    target: target\n    bogus: 1")
    result = kubectl("apply", "-f", "-", input=bogus, check=False)
    assert result.returncode != 0 and 'unknown field "spec.dataset.bogus"' in result.stderr
    kubectl("apply", "--validate=false", "-f", "-", input=bogus)
    dataset = yaml.safe_load(kubectl("get", "mlp", "iris", "-o", "yaml").stdout)["spec"]["dataset"]
    assert "bogus" not in dataset and dataset["target"] == "target"  # pruned, like a real API server


def test_invalid_objects_fail_with_the_field(kubectl) -> None:
    result = kubectl("apply", "-f", "-", input=DEPLOYMENT.format(steps="10, 150"), check=False)
    assert result.returncode != 0
    assert ('The ModelDeployment "iris" is invalid: spec.strategy.canary.steps: Invalid value: "object": '
            "canary steps must be between 1 and 100") in result.stderr
    no_dataset = "\n".join(line for line in PROJECT.splitlines()
                           if not line.startswith("    ") and "dataset" not in line)
    no_dataset = no_dataset.replace("candidates:", "candidates:\n  - name: lr\n    estimator: LogisticRegression")
    result = kubectl("create", "-f", "-", input=no_dataset, check=False)
    assert result.returncode != 0 and "spec.dataset: Required value" in result.stderr
    assert "created" in kubectl("apply", "-f", "-", input=DEPLOYMENT.format(steps="10, 50, 100")).stdout


def test_server_side_apply_get_yaml_and_short_names(kubectl) -> None:
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=PROJECT).stdout
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-",
                                           input=PROJECT.replace("version: v1", "version: v3")).stdout
    obj = yaml.safe_load(kubectl("get", "mlp", "iris", "-o", "yaml").stdout)
    assert obj["spec"]["dataset"]["version"] == "v3" and obj["metadata"]["generation"] == 2
    kubectl("apply", "-f", "-", input=DEPLOYMENT.format(steps="10, 100"))
    output = kubectl("get", "mlp,tr,md").stdout
    assert "mlproject.mlops.dev/iris" in output and "modeldeployment.mlops.dev/iris" in output
    assert "modeldeployment.mlops.dev/iris" in kubectl("get", "mlops").stdout
    assert "default" in kubectl("get", "namespaces").stdout
    assert "mlprojects.mlops.dev" in kubectl("get", "crd").stdout


def test_patch_label_wait_and_delete(kubectl, threaded_api: EmbeddedAPIServer) -> None:
    kubectl("apply", "-f", "-", input=PROJECT)
    kubectl("patch", "mlp", "iris", "--type", "merge", "-p", '{"spec":{"dataset":{"version":"v5"}}}')
    kubectl("patch", "mlp", "iris", "--type", "json", "-p",
            '[{"op":"replace","path":"/spec/dataset/target","value":"species"}]')
    kubectl("label", "mlp", "iris", "team=vision")
    assert kubectl("get", "mlp", "-l", "team=vision", "-o", "name").stdout.strip() == "mlproject.mlops.dev/iris"
    assert kubectl("get", "mlp", "-l", "team=other", "-o", "name").stdout.strip() == ""
    spec = yaml.safe_load(kubectl("get", "mlp", "iris", "-o", "yaml").stdout)["spec"]["dataset"]
    assert (spec["version"], spec["target"]) == ("v5", "species")

    threading.Timer(0.5, lambda: threaded_api.apply({"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject",
                                                     "metadata": {"name": "iris"},
                                                     "status": {"phase": "Ready"}})).start()
    kubectl("wait", "--for=jsonpath={.status.phase}=Ready", "mlp/iris", "--timeout=20s")
    threaded_api.apply({"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "iris"},
                        "status": {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True", "reason": "Trained",
                                                                     "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    kubectl("wait", "--for=condition=Ready", "mlp/iris", "--timeout=20s")

    kubectl("patch", "mlp", "iris", "--type", "merge", "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    kubectl("delete", "mlp", "iris", "--wait=false")
    assert kubectl("get", "mlp", "iris", "-o", "jsonpath={.metadata.deletionTimestamp}").stdout
    kubectl("patch", "mlp", "iris", "--type", "json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert kubectl("get", "mlp", "iris", check=False).returncode != 0
    assert "No resources found" in kubectl("get", "mlp").stderr


def test_get_watch_streams_table_rows(kubectl, threaded_api: EmbeddedAPIServer) -> None:
    kubectl("apply", "-f", "-", input=PROJECT)
    watcher = subprocess.Popen(kubectl.args("get", "mlp", "-w"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        lines = [watcher.stdout.readline()]  # the header
        lines.append(watcher.stdout.readline())  # the listed object
        time.sleep(0.3)
        threaded_api.apply({"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "iris"},
                            "status": {"phase": "Training"}})
        lines.append(watcher.stdout.readline())  # the change, streamed as a Table row
    finally:
        watcher.kill()
        watcher.communicate(timeout=10)
    assert lines[0].split()[:3] == ["NAME", "PHASE", "DATASET"]
    assert lines[1].split()[:2] == ["iris", "v1"]
    assert lines[2].split()[:3] == ["iris", "Training", "v1"]


def test_imperative_create_of_builtins_sends_protobuf_and_works(kubectl, threaded_api: EmbeddedAPIServer) -> None:
    kubectl("create", "namespace", "team-a")
    kubectl("create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=fast")
    kubectl("create", "secret", "generic", "token", "-n", "team-a", "--from-literal=pw=hunter2")
    assert threaded_api.get("v1", "Namespace", "team-a")["status"]["phase"] == "Active"
    assert threaded_api.get("v1", "ConfigMap", "settings", "team-a")["data"] == {"mode": "fast"}
    assert threaded_api.get("v1", "Secret", "token", "team-a")["data"] == {"pw": "aHVudGVyMg=="}
    kubectl("delete", "namespace", "team-a")
    assert threaded_api.get("v1", "ConfigMap", "settings", "team-a") is None


def test_apply_of_a_large_crd(kubectl, repo_root) -> None:
    seldon = repo_root / "../shared/peer/seldon-core-v1.17.1/machinelearning.seldon.io_seldondeployments.yaml"
    if not seldon.exists():
        pytest.skip(f"Seldon Core CRD not found at {seldon}")
    assert seldon.stat().st_size > 1024 * 1024  # over aiohttp's default body limit
    assert "created" in kubectl("apply", "-f", str(seldon)).stdout
    assert "seldondeployments" in kubectl("api-resources", "--api-group=machinelearning.seldon.io").stdout
