"""With 10% of the operator's API calls failing, the examples reach the same end state as without.

The embedded API injects the faults a real API server and network produce (500/503, 429 with
Retry-After, slow answers, answers slower than the client's timeout, 409 conflicts, watch streams
cut, 410 Gone on resume) into the calls of the operator only; the test drives the examples like a
user and checks the end state test_training_loop.py checks without faults, with no duplicate work
and a log that says what happened without flooding.
"""
from __future__ import annotations

import pytest

from mlops_operator.devcluster import EXAMPLES, load_documents
from mlops_operator.embedded.faults import FaultPolicy

from .harness import Kube, ThreadedDevCluster, status

pytestmark = pytest.mark.e2e

TRAINING = 600


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # a hung call is given up after 3 s (MLOPS_API_TIMEOUT); injected hangs last 4 s
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None,
                            env={"MLOPS_API_TIMEOUT": "3"}) as c:
        c.faults = FaultPolicy(rate=0.1, clients=("kopf", "mlops-operator"), timeout_seconds=4.0,
                               slow_seconds=0.5, seed=20261127)
        c.cluster.api.emulator.faults = c.faults
        for doc in load_documents(EXAMPLES):
            c.cluster.api.apply(doc)
        yield c


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


def phase(obj: dict) -> str | None:
    return status(obj).get("phase")


def test_the_examples_train_and_serve_despite_faults(cluster, kube):
    run = kube.wait("trainingruns", "breast-cancer-v1", lambda o: phase(o) in ("Blessed", "Rejected", "Failed"),
                    TRAINING, "training finished")
    assert phase(run) == "Blessed", status(run)
    kube.wait("mlprojects", "breast-cancer",
              lambda o: (status(o).get("champion") or {}).get("trainingRun") == "breast-cancer-v1", 120, "champion")
    md = kube.wait("modeldeployments", "breast-cancer", lambda o: phase(o) == "Serving", 300, "champion served")
    assert status(md)["stable"]["trainingRun"] == "breast-cancer-v1"

    # an approval written while calls fail is not lost
    kube.wait("trainingruns", "penguins-2020", lambda o: phase(o) == "AwaitingApproval", TRAINING, "awaiting approval")
    kube.patch("trainingruns", "penguins-2020", {"spec": {"approval": {"approvedBy": "alice@example.com"}}})
    run = kube.wait("trainingruns", "penguins-2020", lambda o: phase(o) == "Blessed", 120, "approved")
    assert status(run)["approval"]["approvedBy"] == "alice@example.com"
    kube.wait("modeldeployments", "penguins", lambda o: phase(o) == "Serving", 300, "approved champion served")

    # no duplicate work: one TrainingRun per project and one pipeline submission each
    runs = sorted(r["metadata"]["name"] for r in kube.list("trainingruns"))
    assert runs == ["breast-cancer-v1", "penguins-2020"]
    for name in runs:
        pipeline = status(kube.get("trainingruns", name))["pipeline"]
        assert pipeline["attempts"] == 1, (name, pipeline)
        submitted = [e for e in kube.events_for(name) if e[1] == "PipelineSubmitted"]
        assert len(submitted) <= 1, submitted  # an Event may itself be lost to a fault, never doubled

    injected = cluster.faults.injected
    calls = sum(c.user_agent.startswith(("kopf", "mlops-operator")) for c in cluster.cluster.api.emulator.timeline)
    assert 0.05 <= sum(injected.values()) / calls <= 0.2, (injected, calls)  # about 10% of the operator's calls
    assert len(injected) >= 4, injected

    # the log says what failed, with one traceback per streak of failures, and does not flood
    log = cluster.operator_log()
    tracebacks = log.count("Traceback")
    assert tracebacks <= sum(injected.values()), (tracebacks, injected)
    assert len(log.splitlines()) < 40 * sum(injected.values()), len(log.splitlines())
