"""SIGKILL the operator at 11 points of the lifecycle, restart it, and reach the undisturbed end state.

The embedded API calls a hook before and after serving each call; at each armed point the hook
kills the operator's process group with SIGKILL, either before the call is applied (the write is
lost) or after it was applied but before the answer arrives (the operator never learns), and a
new operator is started. The lifecycle: train v1 (with approval), champion, first release; train
v2, champion, canary 50 -> 100, promotion; and a canary of a failing model that is rolled back.
At the end: the same state as an undisturbed run, no duplicate TrainingRun or pipeline run, the
approvals kept, one promotion, and clients of the stable version saw no errors throughout.
"""
from __future__ import annotations

import asyncio
import copy
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import requests
import yaml

from mlops_operator.devcluster import EXAMPLES, start_operator
from mlops_operator.embedded import errors
from mlops_operator.monitor import client as monitor_client
from mlops_operator.training import runfiles

from sklearn.datasets import load_breast_cancer

from .harness import ROWS, Kube, ThreadedDevCluster, make_model, send, status

pytestmark = pytest.mark.e2e

TRAINING = 600
P = "crash"
#: Requests for the example project's model (its schema's feature columns).
PROJECT_ROWS = load_breast_cancer(as_frame=True).frame[["mean radius", "mean texture", "worst area"]].to_dict("records")


def status_write(plural: str, check: Callable[[dict], bool]) -> Callable[[Any, Any], bool]:
    def match(call: Any, body: Any) -> bool:
        return (call.method == "PATCH" and call.plural == plural and call.subresource == "status"
                and call.user_agent.startswith("mlops-operator") and isinstance(body, dict)
                and check(body.get("status") or {}))
    return match


def write_of(method: str, plural: str) -> Callable[[Any, Any], bool]:
    return lambda call, body: (call.method == method and call.plural == plural and call.subresource is None
                               and call.user_agent.startswith("mlops-operator"))


def stable_is(run: str) -> Callable[[dict], bool]:
    return lambda st: ((st.get("stable") or {}).get("trainingRun") == run)


#: (what the operator was doing, kill before or after the call is applied, which call)
POINTS: list[tuple[str, str, Callable[[Any, Any], bool]]] = [
    ("TrainingRun created, not yet submitted", "after", write_of("POST", "trainingruns")),
    ("pipeline submitted, run id not recorded", "before",
     status_write("trainingruns", lambda st: bool((st.get("pipeline") or {}).get("runId")))),
    ("run finished, verdict not written", "before",
     status_write("trainingruns", lambda st: st.get("phase") == "AwaitingApproval")),
    ("approval given, not yet recorded", "before",
     status_write("trainingruns", lambda st: bool((st.get("approval") or {}).get("approvedBy")))),
    ("Blessed, champion not yet updated", "before",
     status_write("mlprojects", lambda st: (st.get("champion") or {}).get("trainingRun") == f"{P}-v1")),
    ("SeldonDeployment created, status not written", "after", write_of("POST", "seldondeployments")),
    ("first version serving, not recorded", "before", status_write("modeldeployments", stable_is(f"{P}-v1"))),
    ("canary step: SeldonDeployment patched, step not recorded", "after", write_of("PATCH", "seldondeployments")),
    ("canary advanced to its last step, not recorded", "before",
     status_write("modeldeployments", lambda st: st.get("step") == 1)),
    ("promotion decided, not recorded", "before", status_write("modeldeployments", stable_is(f"{P}-v2"))),
    ("rollback decided, not recorded", "before",
     status_write("modeldeployments", lambda st: st.get("phase") == "RolledBack")),
]


@dataclass
class Killer:
    """The embedded API's call hook: kills the operator at each armed point, once, and restarts it."""

    cluster: Any
    loop: asyncio.AbstractEventLoop
    fired: list[str] = field(default_factory=list)
    applied: list[dict] = field(default_factory=list)  # status writes applied to the deployments
    restarts: int = 0

    def __call__(self, call: Any, body: Any, when: str) -> None:
        if when == "after" and call.plural == "modeldeployments" and call.subresource == "status" and body:
            self.applied.append(copy.deepcopy(body.get("status") or {}))
        for what, moment, match in POINTS:
            if what not in self.fired and moment == when and match(call, body):
                self.fired.append(what)
                self.kill()
                if when == "before":
                    raise errors.ApiError(503, "ServiceUnavailable", "the client was killed")
                return

    def kill(self) -> None:
        proc = self.cluster.cluster.operator
        os.killpg(proc.pid, signal.SIGKILL)
        self.loop.create_task(self.restart(proc))

    async def restart(self, dead: Any) -> None:
        await dead.wait()
        c = self.cluster
        monitor = {monitor_client.ENV_URL: c.cluster.monitor_url,
                   monitor_client.ENV_TOKEN_FILE: str(c.cluster.monitor_token_file)} if c.cluster.monitor_url else {}
        c.cluster.operator = await start_operator(c.kubeconfig, c.workdir, 1.0, c.workdir / "operator.log", monitor)
        self.restarts += 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None) as c:
        c.killer = Killer(c, c._loop)
        c.cluster.api.emulator.call_hook = c.killer
        try:
            yield c
        finally:
            c.cluster.api.emulator.call_hook = None
    assert c.cluster.operator.returncode is not None, "the restarted operator outlived its dev cluster"


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


class Traffic(threading.Thread):
    """A client of the stable version, sending requests until stopped; keeps every status code."""

    def __init__(self, url: str, rows: list[dict]) -> None:
        super().__init__(daemon=True)
        self.url, self.rows, self.codes, self.stopping = url, rows, [], threading.Event()

    def run(self) -> None:
        with requests.Session() as http:
            while not self.stopping.is_set():
                self.codes += [code for _, code, _ in send(self.url, self.rows[:5], http=http)]
                time.sleep(0.05)


def phase(obj: dict) -> str | None:
    return status(obj).get("phase")


def approve(kube: Kube, run: str) -> None:
    kube.wait("trainingruns", run, lambda o: phase(o) == "AwaitingApproval", TRAINING, f"{run} awaiting approval")
    kube.patch("trainingruns", run, {"spec": {"approval": {"approvedBy": "alice@example.com"}}})


def test_the_operator_converges_after_being_killed_at_each_point(cluster, kube, tmp_path):
    project = next(d for d in yaml.safe_load_all((EXAMPLES / "breast-cancer.yaml").read_text())
                   if d["kind"] == "MLProject")
    project["metadata"]["name"] = P
    project["spec"]["approval"] = {"required": True, "approvers": ["alice@example.com"]}
    kube.create("mlprojects", project)
    kube.create("modeldeployments", {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": P},
        "spec": {"projectRef": {"name": P}, "model": {"champion": True},
                 "strategy": {"type": "canary", "canary": {"steps": [50, 100], "interval": "3s"},
                              "analysis": {"minRequests": 5}}}})

    approve(kube, f"{P}-v1")
    md = kube.wait("modeldeployments", P, lambda o: phase(o) == "Serving" and stable_is(f"{P}-v1")(status(o)),
                   180, "v1 served")
    traffic = Traffic(status(md)["seldon"]["address"], PROJECT_ROWS)
    traffic.start()
    try:
        kube.patch("mlprojects", P, {"spec": {"dataset": {"version": "v2"}}})
        approve(kube, f"{P}-v2")
        md = kube.wait("modeldeployments", P, lambda o: phase(o) == "Serving" and stable_is(f"{P}-v2")(status(o)),
                       300, "v2 promoted")
    finally:
        traffic.stopping.set()
        traffic.join(30)

    # a canary of a model that fails half of its requests is rolled back, also across a kill
    good, bad = make_model(tmp_path / "good"), make_model(tmp_path / "bad", failure_rate=0.5)
    kube.create("modeldeployments", {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                                     "metadata": {"name": "rollback"},
                                     "spec": {"model": {"uri": good}, "strategy": {"type": "direct"}}})
    rb = kube.wait("modeldeployments", "rollback", lambda o: phase(o) == "Serving", 120, "good model served")
    kube.patch("modeldeployments", "rollback", {"spec": {"model": {"uri": bad}, "strategy": {
        "type": "canary", "canary": {"steps": [50, 100], "interval": "2s"},
        "analysis": {"minRequests": 10, "failureLimit": 1}}}})
    rb_traffic = Traffic(status(rb)["seldon"]["address"], ROWS)
    rb_traffic.start()
    try:
        rb = kube.wait("modeldeployments", "rollback", lambda o: phase(o) == "RolledBack", 180, "rolled back")
    finally:
        rb_traffic.stopping.set()
        rb_traffic.join(30)

    killer = cluster.killer
    assert [what for what, _, _ in POINTS if what not in killer.fired] == [], "points never reached"
    deadline = time.monotonic() + 30
    while killer.restarts < len(POINTS):
        assert time.monotonic() < deadline, f"{killer.restarts} restarts"
        time.sleep(0.2)

    # the end state of an undisturbed run
    runs = {r["metadata"]["name"]: r for r in kube.list("trainingruns")}
    assert sorted(runs) == [f"{P}-v1", f"{P}-v2"], "duplicate or missing TrainingRuns"
    for name, run in runs.items():
        assert phase(run) == "Blessed", status(run)
        assert status(run)["approval"]["approvedBy"] == "alice@example.com", "approval lost"
        launch = runfiles.read_json(runfiles.run_dir(cluster.workdir, "default", name) / runfiles.LAUNCH)
        assert launch["attempt"] == 1 and status(run)["pipeline"]["attempts"] == 1, "pipeline run twice"
    champion = status(kube.get("mlprojects", P))["champion"]
    assert champion["trainingRun"] == f"{P}-v2"
    st = status(md)
    assert not st.get("candidate")
    assert list(st["weights"].values()) == [100]
    promotions = [w for w in killer.applied if stable_is(f"{P}-v2")(w)]
    assert len(promotions) == 1, f"promoted {len(promotions)} times"
    assert status(rb)["stable"]["uri"] == good and status(rb)["rolledBack"]["uri"] == bad

    # clients of the stable version saw no error while the operator died eleven times
    assert traffic.codes and set(traffic.codes) == {200}, {c: traffic.codes.count(c) for c in set(traffic.codes)}
