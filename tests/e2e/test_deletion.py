"""Nothing happens for a deleted object: no API call for it, no child re-created, no task left behind.

Each kind is deleted mid-lifecycle in the embedded default with the real operator; the embedded
API's timeline of calls (with object names and arrival times) proves that the operator made no call
for the object after it saw the deletion, and the operator's own metrics show its asyncio task count
back at its baseline and no reconcile loop left running.
"""
from __future__ import annotations

import copy
import socket
import time

import pytest
import requests
import yaml

from mlops_operator.devcluster import EXAMPLES

from .harness import Kube, ThreadedDevCluster, error_lines, make_model, status

pytestmark = pytest.mark.e2e

GRACE = 1.0  # seconds for the watch to deliver the deletion and a call already in flight to land
QUIET = 5.0  # seconds (five reconcile intervals) in which nothing may happen for the deleted object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    port = free_port()
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None,
                            env={"MLOPS_METRICS_PORT": str(port)}) as c:
        c.metrics_url = f"http://127.0.0.1:{port}/metrics"
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


def metrics_text(cluster) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            return requests.get(cluster.metrics_url, timeout=5).text
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def tasks_by_coroutine(cluster) -> dict[str, float]:
    prefix = 'mlops_operator_asyncio_tasks_by_coroutine{coroutine="'
    return {line[len(prefix):].split('"}')[0]: float(line.rsplit(" ", 1)[1])
            for line in metrics_text(cluster).splitlines() if line.startswith(prefix)}


def settled_tasks(cluster) -> dict[str, float]:
    """The operator's tasks once its start-up is over: its watches start after it serves metrics, and
    the per-object workers of what they list first exit after kopf's idle timeout (5 s), so the tasks
    by coroutine must be the same in reads a second apart for longer than that."""
    reads, stable_for = [tasks_by_coroutine(cluster)], 8
    deadline = time.monotonic() + 90
    while len(reads) < stable_for or any(r != reads[-1] for r in reads[-stable_for:]):
        assert time.monotonic() < deadline, f"the operator's tasks did not settle: {reads[-stable_for:]}"
        time.sleep(1)
        reads.append(tasks_by_coroutine(cluster))
    return reads[-1]


def metric(cluster, name: str, labels: str = "") -> float:
    text = metrics_text(cluster)
    for line in text.splitlines():
        if line.startswith(name + (("{" + labels + "}") if labels else " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def calls_after(cluster, names: set[str], since: float) -> list:
    """The operator's calls on objects named `names` that arrived after `since`."""
    return [c for c in cluster.cluster.api.emulator.timeline
            if c.time > since and c.name in names and c.user_agent.startswith(("kopf", "mlops-operator"))]


def project_manifest(name: str) -> dict:
    doc = copy.deepcopy(next(d for d in yaml.safe_load_all((EXAMPLES / "breast-cancer.yaml").read_text())
                             if d["kind"] == "MLProject"))
    doc["metadata"]["name"] = name
    return doc


def delete(kube: Kube, plural: str, name: str) -> float:
    kube.api.delete_namespaced_custom_object("mlops.dev", "v1alpha1", kube.namespace, plural, name)
    return time.time()


def wait_quiet_and_check(cluster, names: set[str], deleted_at: float) -> None:
    time.sleep(QUIET)
    late = calls_after(cluster, names, deleted_at + GRACE)
    assert not late, f"calls after the deletion: {late}"


def test_each_kind_deleted_mid_lifecycle_leaves_nothing_behind(cluster, kube, tmp_path):
    before = settled_tasks(cluster)
    baseline = sum(before.values())
    assert baseline > 0 and metric(cluster, "mlops_operator_asyncio_tasks") == baseline, before

    # ModelDeployment, serving: its SeldonDeployment must not come back.
    uri = make_model(tmp_path / "zombie-model")
    kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                                     "metadata": {"name": "zombie"},
                                     "spec": {"model": {"uri": uri}, "strategy": {"type": "direct"}}})
    deadline = time.monotonic() + 60
    while not any(s["metadata"]["name"] == "zombie" for s in seldon_deployments(kube)):
        assert time.monotonic() < deadline, "no SeldonDeployment for zombie"
        time.sleep(0.3)
    deleted_at = delete(kube, "modeldeployments", "zombie")
    wait_quiet_and_check(cluster, {"zombie"}, deleted_at)
    assert not any(s["metadata"]["name"] == "zombie" for s in seldon_deployments(kube))
    assert not any(c.method == "POST" and c.plural == "seldondeployments" and c.name == "zombie"
                   for c in calls_after(cluster, {"zombie"}, deleted_at))

    # MLProject, training: its TrainingRun goes with it and is not started again.
    kube.create("mlprojects", project_manifest("doomed"))
    kube.wait("trainingruns", "doomed-v1", lambda o: status(o).get("phase") == "Running", 120, "training runs")
    deleted_at = delete(kube, "mlprojects", "doomed")
    wait_quiet_and_check(cluster, {"doomed", "doomed-v1"}, deleted_at)
    assert "doomed-v1" not in {r["metadata"]["name"] for r in kube.list("trainingruns")}

    # TrainingRun, waiting for its project: no status write after the deletion.
    kube.create("trainingruns", {"apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingRun",
                                 "metadata": {"name": "loner"}, "spec": {"projectRef": {"name": "nowhere"}}})
    kube.wait("trainingruns", "loner", lambda o: status(o).get("conditions"), 60, "waiting for its project")
    deleted_at = delete(kube, "trainingruns", "loner")
    wait_quiet_and_check(cluster, {"loner"}, deleted_at)

    for kind in ("ModelDeployment", "MLProject", "TrainingRun"):
        assert metric(cluster, "mlops_reconcile_loops", f'kind="{kind}"') == 0, kind
    deadline = time.monotonic() + 30  # kopf's per-object workers exit after an idle timeout
    while (tasks := metric(cluster, "mlops_operator_asyncio_tasks")) > baseline:
        assert time.monotonic() < deadline, (f"{tasks} asyncio tasks, {baseline} before the objects existed; "
                                             f"now {tasks_by_coroutine(cluster)}, before {before}")
        time.sleep(1)


def test_deleted_objects_carry_no_finalizer_and_delete_at_once(kube):
    kube.create("trainingruns", {"apiVersion": "mlops.dev/v1alpha1", "kind": "TrainingRun",
                                 "metadata": {"name": "quick"}, "spec": {"projectRef": {"name": "nowhere"}}})
    obj = kube.wait("trainingruns", "quick", lambda o: status(o).get("conditions"), 60, "reconciled")
    assert not obj["metadata"].get("finalizers")
    delete(kube, "trainingruns", "quick")
    assert "quick" not in {r["metadata"]["name"] for r in kube.list("trainingruns")}


def seldon_deployments(kube: Kube) -> list[dict]:
    return kube.api.list_namespaced_custom_object("machinelearning.seldon.io", "v1", kube.namespace,
                                                  "seldondeployments")["items"]
