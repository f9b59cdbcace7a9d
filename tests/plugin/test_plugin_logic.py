"""The kubectl plugin's pure parts: kinds, the status tree, lineage, the patches each verb writes, argument
splitting, and the ModelDeployment report, without a cluster."""
from __future__ import annotations

import pytest

from mlops_operator.api.modeldeployment import ABORT_ANNOTATION, PROMOTE_ANNOTATION
from mlops_operator.plugin import actions, lineage, mdreport, tree
from mlops_operator.plugin.kinds import MLPROJECT, MODELDEPLOYMENT, TRAININGRUN, parse_kind
from mlops_operator.plugin.main import split_traffic


def project(name="churn", champion=None, serving=None, phase="Ready"):
    st = {"phase": phase}
    if champion:
        st["champion"] = {"trainingRun": champion, "metric": "roc_auc", "value": 0.9863731656184487}
    if serving:
        st["serving"] = {"trainingRun": serving}
    return {"metadata": {"name": name, "namespace": "ml", "uid": "u-1"},
            "spec": {"dataset": {"uri": "sklearn:breast_cancer", "version": "v2", "target": "target"},
                     "metric": {"name": "roc_auc", "minimum": 0.9}}, "status": st}


def run(name, phase="Blessed", value=0.9863731656184487, created="2026-01-01T00:00:00Z", parent=None, project="churn"):
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"projectRef": {"name": project}, "trigger": "dataset-version"},
            "status": {"phase": phase, "metric": {"name": "roc_auc", "value": value, "lower": 0.97, "upper": 0.995},
                       "lineage": {"datasetVersion": "v1", "datasetDigest": "sha256:d", "parentChampion": parent},
                       "model": {"uri": f"file:///m/{name}"}}}


def deployment(name="churn", stable="churn-v1", candidate=None, weights=None, phase="Serving"):
    st = {"phase": phase, "strategy": "canary", "stable": {"trainingRun": stable, "predictor": "s", "uri": "u1"},
          "weights": weights or {"s": 100}}
    if candidate:
        st["candidate"] = {"trainingRun": candidate, "predictor": "c", "uri": "u2"}
        st["step"] = 0
    return {"metadata": {"name": name}, "spec": {"projectRef": {"name": "churn"},
            "strategy": {"type": "canary", "canary": {"steps": [20, 50, 100]}}}, "status": st}


@pytest.mark.parametrize("text,kind", [("md", MODELDEPLOYMENT), ("ModelDeployments", MODELDEPLOYMENT),
                                       ("tr", TRAININGRUN), ("trainingruns.mlops.dev", TRAININGRUN),
                                       ("mlp", MLPROJECT), ("mlproject", MLPROJECT)])
def test_kinds_read_like_kubectl(text, kind):
    assert parse_kind(text) is kind


def test_an_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match="unknown kind 'mlp': expected tr .* or md"):
        parse_kind("mlp", (TRAININGRUN, MODELDEPLOYMENT))


def test_the_tree_nests_deployments_under_the_versions_they_serve_with_their_share():
    roots = tree.build_tree(
        [project(champion="churn-v2", serving="churn-v1")],
        [run("churn-v1"), run("churn-v2", created="2026-01-02T00:00:00Z", parent="churn-v1"),
         run("orphan", project="gone")],
        [deployment(candidate="churn-v2", weights={"s": 80, "c": 20}, phase="Progressing")])
    assert [r.name for r in roots] == ["churn", tree.NO_PROJECT]
    churn = roots[0]
    assert churn.metric == "roc_auc=0.986" and "champion churn-v2" in churn.info
    assert [c.name for c in churn.children] == ["churn-v2", "churn-v1"]  # newest first
    v2, v1 = churn.children
    assert v2.metric == "roc_auc=0.986 [0.970, 0.995]" and v2.info.startswith("champion")
    assert (v2.children[0].traffic, v1.children[0].traffic) == ("candidate 20%", "stable 80%")
    assert v2.children[0].info == "canary, step 1/3"
    text = tree.render(roots, "ml")
    assert "├── churn-v2" in text and "│   └── churn" in text and "└── churn-v1" in text
    assert "0.9863731656184487" not in text


def test_a_deployment_serving_nothing_yet_sits_under_its_project():
    md = deployment()
    md["status"] = {"phase": "Pending"}
    (root,) = tree.build_tree([project()], [], [md])
    assert [(c.kind, c.name, c.phase) for c in root.children] == [("ModelDeployment", "churn", "Pending")]
    assert tree.build_tree([], [], []) == [] and "No MLProjects" in tree.render([], "ml")


def test_lineage_follows_parent_champions_and_lists_deployments():
    runs = {r["metadata"]["name"]: r for r in (run("v1"), run("v2", parent="v1"), run("v3", parent="v2"))}
    record = lineage.run_lineage("v3", runs, [deployment(stable="v3")])
    assert [a["trainingRun"] for a in record["ancestry"]] == ["v2", "v1"]
    assert record["servedBy"] == [{"modelDeployment": "churn", "role": "stable", "traffic": 100, "phase": "Serving"}]
    text = "\n".join(lineage.render_run(record))
    assert "ancestry:    v3 <- v2 (Blessed) <- v1 (Blessed)" in text and "digest sha256:d" in text
    looped = {"a": run("a", parent="b"), "b": run("b", parent="a")}
    assert [x["trainingRun"] for x in lineage.run_lineage("a", looped, [])["ancestry"]] == ["b"]  # no endless loop
    md = lineage.deployment_lineage(deployment(stable="v3", candidate="missing", weights={"s": 50, "c": 50}), runs, [])
    assert [v["role"] for v in md["versions"]] == ["stable", "candidate"]
    assert "TrainingRun missing not found" in lineage.render_deployment(md)


def test_verbs_write_fresh_tokens_and_plain_merge_patches():
    assert actions.promote_patch("1") == {"metadata": {"annotations": {PROMOTE_ANNOTATION: "1"}}}
    assert actions.abort_patch("2") == {"metadata": {"annotations": {ABORT_ANNOTATION: "2"}}}
    assert actions.token() != actions.token()
    assert actions.paused_patch(True) == {"spec": {"paused": True}}
    assert actions.approve_patch("alice") == {"spec": {"approval": {"approvedBy": "alice"}}}
    assert actions.approve_patch("alice", "ok")["spec"]["approval"]["comment"] == "ok"


def test_approve_refuses_finished_runs_and_non_approvers():
    p = project()
    p["spec"]["approval"] = {"required": True, "approvers": ["alice"]}
    assert "is Rejected" in actions.check_approvable(run("r", phase="Rejected"), "alice", p)
    assert "not an approver" in actions.check_approvable(run("r", phase="AwaitingApproval"), "bob", p)
    assert actions.check_approvable(run("r", phase="AwaitingApproval"), "alice", p) is None


def test_retrain_is_a_manual_run_owned_by_the_project():
    body = actions.retrain_run(project(), now=1_800_000_000)
    assert body["spec"] == {"projectRef": {"name": "churn"}, "datasetVersion": "v2", "trigger": "manual"}
    assert body["metadata"]["name"].startswith("churn-m-20270115-")
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert body["metadata"]["labels"]["mlops.dev/trigger"] == "manual"
    assert actions.retrain_run(project(), now=1_800_000_000, dataset_version="v9")["spec"]["datasetVersion"] == "v9"
    assert actions.unfinished_runs("churn", [run("a", phase="Running"), run("b"), run("c", phase="AwaitingApproval")]) == ["a"]


@pytest.mark.parametrize("argv,ours,theirs", [
    (["traffic", "md", "x", "--requests", "5"], ["traffic", "md", "x"], ["--requests", "5"]),
    (["traffic", "x", "-c", "2"], ["traffic", "x"], ["-c", "2"]),
    (["traffic", "--help"], ["traffic", "--help"], []),
    (["status", "-w"], ["status", "-w"], []),
])
def test_traffic_arguments_pass_through(argv, ours, theirs):
    assert split_traffic(argv) == (ours, theirs)


def test_the_deployment_report_draws_the_timeline_from_events():
    events = [{"time": "2026-01-01T00:00:00Z", "type": "Normal", "reason": "Started", "message": "canary release of c"},
              {"time": "2026-01-01T00:01:00Z", "type": "Normal", "reason": "Advanced",
               "message": "step 2: 50% to c (error rate 0.000 [0, 0.01], p95 12 ms over 40 requests)"},
              {"time": "2026-01-01T00:02:00Z", "type": "Warning", "reason": "RolledBack", "message": "p95 too high"}]
    points = mdreport.traffic_timeline(events, {}, deployment()["spec"])
    assert [(w, what) for _, w, what in points] == [(20, "started"), (50, "step 2"), (0, "rolled back")]
    page = mdreport.render(deployment(candidate="v2", weights={"s": 50, "c": 50}), events, {}, "2026-01-01T00:03:00Z")
    for section in ("overview", "timeline", "decisions", "analysis", "shadow", "drift"):
        assert f'<section id="{section}">' in page
    assert "No drift data" in page
    drifted = mdreport.render(deployment(), events, {}, "now", drift={"verdict": "Drift", "features": [
        {"name": "mean radius", "psi": 0.4123456}]})
    assert "<td>features[0].psi</td><td>0.4123</td>" in drifted and "<td>verdict</td><td>Drift</td>" in drifted
    assert "p95 12 ms over 40 requests" in page and page.count("data:image/png;base64,") == 2


def test_the_deployment_report_plots_the_shadow_quantiles():
    md = deployment()
    md["spec"]["strategy"] = {"type": "shadow"}
    assert "No paired answers yet" in mdreport.render(md, [], {}, "now")
    md["status"]["shadowDelta"] = {"pairs": 80, "disagreement": 0.0625, "ks": 0.1, "withinBounds": True,
                                   "qq": [[0.05, 0.1, 0.12], [0.5, 0.4, 0.45], [0.95, 0.9, 0.93]]}
    page = mdreport.render(md, [], {}, "now")
    assert "shadow Q-Q plot" in page and "<td>pairs</td><td>80</td>" in page and "<td>disagreement</td><td>0.06" in page
    assert page.count("data:image/png;base64,") == 3  # timeline, analysis, Q-Q
    not_shadow = mdreport.render(deployment(), [], {}, "now")
    assert "Not a shadow release." in not_shadow and "shadow Q-Q plot" not in not_shadow
