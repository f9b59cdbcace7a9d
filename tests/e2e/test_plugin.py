"""`kubectl mlops` against the embedded default: every command, run as the installed executable (and once
through kubectl's plugin lookup), with the cluster's kubeconfig, like a user at a terminal.

One small project (iris, approval required) and a canary deployment of its champion carry the flow:
approve -> served -> retrain -> approve -> canary paused -> promote; status/lineage/report are checked
against the objects, and every command's missing-object and unreachable-cluster message is one line.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_operator.api.modeldeployment import ABORT_ANNOTATION, PROMOTE_ANNOTATION

from tests.browser import assert_all_visible, render

from .harness import Kube, ThreadedDevCluster, error_lines, status

pytestmark = pytest.mark.e2e

TRAINING = 300
BIN = Path(sys.executable).parent
PLUGIN = str(BIN / "kubectl-mlops")

PROJECT = {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": "iris"},
           "spec": {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
                    "candidates": [{"name": "lr", "estimator": "LogisticRegression",
                                    "hyperparameters": {"C": [0.1, 1.0], "max_iter": [500]}}],
                    "metric": {"name": "accuracy", "minimum": 0.5},
                    "approval": {"required": True, "approvers": ["alice"]}}}
DEPLOYMENT = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
              "spec": {"projectRef": {"name": "iris"}, "model": {"champion": True},
                       "strategy": {"type": "canary", "canary": {"steps": [50, 100], "interval": "2s"},
                                    "analysis": {"minRequests": 0}, "progressDeadline": "10m"}}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None) as c:
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    k = Kube(cluster.kubeconfig)
    k.create("mlprojects", PROJECT)
    k.create("modeldeployments", DEPLOYMENT)
    return k


@pytest.fixture(scope="module")
def mlops(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("plugin")

    def run(*args: str, rc: int = 0, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        full = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), **(env or {})}
        done = subprocess.run([PLUGIN, *args], capture_output=True, text=True, env=full, cwd=workdir, timeout=timeout)
        assert done.returncode == rc, (args, done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    run.workdir = workdir
    return run


def phase(obj: dict) -> str | None:
    return status(obj).get("phase")


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def tree_rows(text: str) -> list[list[str]]:
    """The status table as cells: tree-drawing prefixes removed, columns split on runs of 2+ spaces."""
    rows = []
    for line in text.splitlines()[1:]:
        cells = re.split(r"\s{2,}", re.sub(r"^[│├└─\s]+", "", line).strip())
        rows.append(cells)
    return rows


def test_every_command_names_a_missing_object_in_one_line(kube, mlops):
    for args, what in [
        (("lineage", "tr", "nope"), 'trainingruns.mlops.dev "nope" not found in namespace "default"'),
        (("lineage", "md", "nope"), 'modeldeployments.mlops.dev "nope" not found in namespace "default"'),
        (("promote", "md", "nope"), 'modeldeployments.mlops.dev "nope" not found'),
        (("abort", "md", "nope"), 'modeldeployments.mlops.dev "nope" not found'),
        (("pause", "md", "nope"), 'modeldeployments.mlops.dev "nope" not found'),
        (("resume", "md", "nope"), 'modeldeployments.mlops.dev "nope" not found'),
        (("approve", "tr", "nope", "--by", "alice"), 'trainingruns.mlops.dev "nope" not found'),
        (("retrain", "mlp", "nope"), 'mlprojects.mlops.dev "nope" not found'),
        (("report", "tr", "nope"), 'trainingruns.mlops.dev "nope" not found'),
        (("report", "md", "nope"), 'modeldeployments.mlops.dev "nope" not found'),
        (("traffic", "md", "nope"), 'modeldeployments.mlops.dev "nope" not found'),
        (("status", "nope"), 'mlprojects.mlops.dev "nope" not found'),
        (("-n", "elsewhere", "lineage", "tr", "iris-v1"), 'not found in namespace "elsewhere"'),
    ]:
        assert what in one_line_error(mlops(*args, rc=1)), args
    assert "unknown kind" in one_line_error(mlops("lineage", "mlp", "iris", rc=1))


def test_an_unreachable_cluster_or_a_wrong_context_is_one_line(cluster, mlops, tmp_path):
    dead = tmp_path / "dead-kubeconfig"
    text = Path(cluster.kubeconfig).read_text()
    server = next(line.split("server:", 1)[1].strip() for line in text.splitlines() if "server:" in line)
    dead.write_text(text.replace(server, "http://127.0.0.1:1"))
    for args in (("status",), ("promote", "md", "iris"), ("report", "md", "iris")):
        line = one_line_error(mlops(*args, rc=1, env={"KUBECONFIG": str(dead)}))
        assert "cannot reach the Kubernetes API at http://127.0.0.1:1" in line, line
    assert 'context "nope" not found' in one_line_error(mlops("--context", "nope", "status", rc=1))
    import yaml

    context = yaml.safe_load(text)["current-context"]
    assert "iris" in mlops("status", "--context", context).stdout  # flags after the command work too
    assert "cannot load kubeconfig" in one_line_error(mlops("status", rc=1, env={"KUBECONFIG": str(tmp_path / "none")}))
    ok = mlops("--kubeconfig", str(cluster.kubeconfig), "status", env={"KUBECONFIG": str(dead)})
    assert "iris" in ok.stdout  # --kubeconfig wins over KUBECONFIG, as with kubectl


def test_approve_refuses_a_non_approver_and_approving_serves_the_model(kube, mlops):
    kube.wait("trainingruns", "iris-v1", lambda o: phase(o) == "AwaitingApproval", TRAINING, "awaiting approval")
    assert "'mallory' is not an approver" in one_line_error(mlops("approve", "tr", "iris-v1", "--by", "mallory", rc=1))
    assert "approval" not in kube.get("trainingruns", "iris-v1")["spec"]
    out = mlops("approve", "tr", "iris-v1", "--by", "alice", "--comment", "checked the report").stdout
    assert "trainingrun 'iris-v1' approved by alice" in out
    assert kube.get("trainingruns", "iris-v1")["spec"]["approval"] == {"approvedBy": "alice",
                                                                       "comment": "checked the report"}
    kube.wait("trainingruns", "iris-v1", lambda o: phase(o) == "Blessed", 60, "approved")
    kube.wait("modeldeployments", "iris", lambda o: phase(o) == "Serving", 180, "champion served")
    kube.wait("mlprojects", "iris", lambda o: (status(o).get("serving") or {}).get("trainingRun") == "iris-v1", 60,
              "serving recorded")


def test_status_is_the_tree_of_the_objects(cluster, kube, mlops):
    run = kube.get("trainingruns", "iris-v1")
    md = kube.get("modeldeployments", "iris")
    metric = status(run)["metric"]
    text = mlops("status").stdout
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "PHASE", "METRIC", "TRAFFIC", "INFO"]
    assert lines[1].startswith("iris ") and lines[2].startswith("└── iris-v1 ") and lines[3].startswith("    └── iris ")
    rows = tree_rows(text)
    assert rows[0][:4] == ["iris", "MLProject", status(kube.get("mlprojects", "iris"))["phase"],
                           f"accuracy={metric['value']:.3f}"]
    assert rows[1][:4] == ["iris-v1", "TrainingRun", "Blessed",
                           f"accuracy={metric['value']:.3f} [{metric['lower']:.3f}, {metric['upper']:.3f}]"]
    assert "champion" in rows[1][-1] and "serving" in rows[1][-1]
    assert rows[2][:3] == ["iris", "ModelDeployment", phase(md)] and rows[2][3:5] == ["-", "stable 100%"]

    doc = json.loads(mlops("status", "iris", "-o", "json").stdout)
    (project,) = doc["projects"]
    assert project["name"] == "iris" and [c["name"] for c in project["children"]] == ["iris-v1"]
    assert project["children"][0]["children"][0] == {
        "kind": "ModelDeployment", "name": "iris", "phase": "Serving", "metric": "", "traffic": "stable 100%",
        "info": "canary, last: Deployed", "children": []}

    watched = mlops("status", "--watch", "--interval", "0.5", "--timeout", "2").stdout
    assert watched.startswith("Namespace: default") and "iris-v1" in watched
    assert "No MLProjects" in mlops("-n", "empty", "status").stdout

    path = os.environ.get("PATH", "")  # `kubectl mlops` finds the installed executable on PATH
    done = subprocess.run(["kubectl", "mlops", "status"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{BIN}:{path}", "KUBECONFIG": str(cluster.kubeconfig)})
    assert done.returncode == 0 and done.stdout == text, done.stderr


def test_lineage_of_a_run_and_of_a_deployment(kube, mlops):
    st = status(kube.get("trainingruns", "iris-v1"))
    out = mlops("lineage", "tr", "iris-v1").stdout
    assert out.startswith("TrainingRun iris-v1 (Blessed)")
    for text in (st["lineage"]["datasetDigest"], st["model"]["uri"], "approved:    by alice",
                 "served by:   modeldeployment/iris (stable 100%, Serving)", "ancestry:    iris-v1 (first model version)"):
        assert text in out, text
    record = json.loads(mlops("lineage", "md", "iris", "-o", "json").stdout)
    (stable,) = record["versions"]
    assert stable["role"] == "stable" and stable["trainingRun"] == "iris-v1" and stable["traffic"] == 100
    assert stable["lineage"]["dataset"]["digest"] == st["lineage"]["datasetDigest"]


def test_traffic_sends_the_projects_data_to_the_deployment(mlops):
    out = mlops("traffic", "md", "iris", "--requests", "20", "-c", "2").stdout
    assert "sent 20, ok 20, errors 0" in out
    out = mlops("traffic", "iris", "--duration", "3s", "--rate", "10").stdout  # paced, for a while
    sent, ok = (int(x) for x in re.search(r"sent (\d+), ok (\d+)", out).groups())
    assert 10 <= sent <= 40 and ok == sent, out


def test_retrain_pause_promote_resume_abort(kube, mlops):
    assert mlops("pause", "md", "iris").stdout.strip() == "modeldeployment 'iris' paused"
    assert kube.get("modeldeployments", "iris")["spec"]["paused"] is True

    out = mlops("retrain", "mlp", "iris").stdout
    name = out.split("'")[1]
    run = kube.get("trainingruns", name)
    assert run["spec"] == {"projectRef": {"name": "iris"}, "datasetVersion": "v1", "trigger": "manual"}
    assert run["metadata"]["ownerReferences"][0]["name"] == "iris"
    assert "unfinished TrainingRun" in one_line_error(mlops("retrain", "iris", rc=1))

    kube.wait("trainingruns", name, lambda o: phase(o) == "AwaitingApproval", TRAINING, "retrained")
    mlops("approve", name, "--by", "alice")
    md = kube.wait("modeldeployments", "iris", lambda o: phase(o) == "Paused" and status(o).get("candidate"), 180,
                   "canary held at its first step")
    assert status(md)["candidate"]["trainingRun"] == name
    rows = tree_rows(mlops("status").stdout)
    assert ["iris", "ModelDeployment", "Paused", "-", "candidate 50%"] == rows[2][:5]

    assert mlops("promote", "iris").stdout.strip() == "modeldeployment 'iris' promoted"
    md = kube.wait("modeldeployments", "iris", lambda o: (status(o).get("stable") or {}).get("trainingRun") == name
                   and not status(o).get("candidate"), 60, "promoted by hand")
    assert md["metadata"]["annotations"][PROMOTE_ANNOTATION]
    assert status(md)["lastDecision"]["action"] == "Promoted"

    mlops("resume", "md", "iris")
    assert kube.get("modeldeployments", "iris")["spec"]["paused"] is False
    out = mlops("abort", "md", "iris").stdout
    assert out.strip() == "modeldeployment 'iris' aborted (no release in progress: nothing to do)"
    first = kube.get("modeldeployments", "iris")["metadata"]["annotations"][ABORT_ANNOTATION]
    mlops("abort", "md", "iris")
    assert kube.get("modeldeployments", "iris")["metadata"]["annotations"][ABORT_ANNOTATION] != first  # fresh token


def test_report_of_a_deployment_and_of_a_run(kube, mlops, tmp_path):
    out = mlops("report", "md", "iris", "-o", "md.html").stdout
    assert out.startswith("wrote md.html")
    html = (mlops.workdir / "md.html").read_text()
    for section in ('id="overview"', 'id="timeline"', 'id="decisions"', 'id="analysis"', "Promoted", "Started"):
        assert section in html, section
    assert html.count("data:image/png;base64,") >= 2

    out = mlops("report", "tr", "iris-v1").stdout
    assert out.startswith("wrote iris-v1-report.html")
    html = (mlops.workdir / "iris-v1-report.html").read_text()
    for section in ('id="data"', 'id="candidates"', 'id="model"', 'id="champion"'):
        assert section in html, section

    opened = mlops("report", "tr", "iris-v1", "-o", "again.html", "--open", env={"BROWSER": "true"}).stdout
    assert opened.startswith("wrote again.html")  # --open hands the file to $BROWSER

    shown = render(mlops.workdir / "md.html", "modeldeployment-report.png", tmp_path, height=3000)
    assert shown["title"] == "ModelDeployment iris"
    assert_all_visible(shown, ["overview", "timeline", "decisions", "analysis", "shadow", "drift"])
    shown = render(mlops.workdir / "iris-v1-report.html", "trainingrun-report-iris.png", tmp_path)
    assert_all_visible(shown, ["data", "candidates", "model", "champion"])
