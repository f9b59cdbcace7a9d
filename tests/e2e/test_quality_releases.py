"""Releases decided on prediction quality, end to end in the embedded default (issue 10).

Clients send real V2 requests through the splitter; every answer's `x-request-id` is labelled with
the true class at the monitor's /feedback (as a user's feedback job would); the operator reads the
monitor's /summary and decides with the always-valid test. Everything is asserted from the API objects.

- a canary of a deliberately weaker model (it answers the opposite class) is rolled back on accuracy
  before it reaches 100%;
- a canary of an equal model is promoted;
- a shadow that disagrees with stable beyond its bound is not promoted; one that agrees is;
- an A/B/n test of two challengers against a mediocre stable stops the worse one early (its
  traffic goes to stable, its predictor is removed) and promotes the better one.
"""
from __future__ import annotations

import time
from typing import Callable

import pytest
import requests

from sklearn.dummy import DummyClassifier

from mlops_components import modeldir

from .harness import FEATURES, FRAME, ROWS, Kube, ThreadedDevCluster, error_lines, make_model, status
from .test_deletion import free_port, metric

pytestmark = pytest.mark.e2e

LABELS = FRAME["target"].tolist()
QUALITY = {"metric": "accuracy", "minEffect": 0.25, "alpha": 0.05, "minSamples": 50, "maxDuration": "5m"}


def make_majority_model(path) -> str:
    """Always answers the most frequent class: accuracy ~0.63, between the real model and the flipped one."""
    model = DummyClassifier(strategy="most_frequent").fit(FRAME[FEATURES], FRAME["target"])
    modeldir.write(path, model, name="model", version=path.name, features=[{"name": f, "type": "float"} for f in FEATURES],
                   target="target", task="classification", train_frame=FRAME, metrics={})
    return path.resolve().as_uri()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {
        "v1": make_model(root / "v1"),
        "weak": make_model(root / "weak", flip=True),  # answers the opposite class: accuracy ~0.1
        "equal": make_model(root / "equal"),           # the same fit under another URI: a new version
        "majority": make_majority_model(root / "majority"),
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    port = free_port()  # the operator's /metrics: quality rollbacks are counted for the alert
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None, env={"MLOPS_METRICS_PORT": str(port)}) as c:
        c.metrics_url = f"http://127.0.0.1:{port}/metrics"
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


@pytest.fixture(scope="module")
def feedback(cluster) -> Callable[[list[tuple[str, int]]], None]:
    url = cluster.cluster.monitor_url
    token = cluster.cluster.monitor_token_file.read_text().strip()

    def post(labels: list[tuple[str, int]]) -> None:
        resp = requests.post(f"{url}/feedback", headers={"Authorization": f"Bearer {token}"},
                             json=[{"requestId": rid, "label": y} for rid, y in labels], timeout=30)
        assert resp.status_code == 200, resp.text
    return post


def labelled_traffic(url: str, n: int, start: int, http: requests.Session, feedback,
                     hold: set[str] = frozenset()) -> list[tuple[str, int]]:
    """n requests from row `start` on, each labelled with its true class; the labels of answers by
    predictors in `hold` are returned instead of posted."""
    labels, held = [], []
    for i in range(start, start + n):
        row = ROWS[i % len(ROWS)]
        body = {"parameters": {"content_type": "pd"},
                "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [float(row[k])]} for k in FEATURES]}
        resp = http.post(f"{url}/v2/models/model/infer", json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        label = (resp.headers["x-request-id"], int(LABELS[i % len(ROWS)]))
        (held if resp.headers.get("x-seldon-predictor") in hold else labels).append(label)
    feedback(labels)
    return held


def deploy_v1(kube: Kube, name: str, models: dict[str, str]) -> dict:
    kube.create("modeldeployments", {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name},
        "spec": {"model": {"uri": models["v1"]}, "strategy": {"type": "direct"}},
    })
    return kube.wait("modeldeployments", name, lambda o: status(o).get("phase") == "Serving", 120, "v1 serving")


def drive(kube: Kube, name: str, url: str, http, feedback, done: Callable[[dict], bool],
          timeout: float = 90, watch: Callable[[dict], None] = lambda o: None) -> dict:
    """Labelled traffic in rounds until `done(object)`; `watch` sees the object after every round."""
    kube.wait("modeldeployments", name, lambda o: status(o).get("candidate"), 60, "the release started")
    deadline, start = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        obj = kube.get("modeldeployments", name)
        watch(obj)
        if done(obj):
            return obj
        labelled_traffic(url, 40, start, http, feedback)
        start += 40
        time.sleep(0.3)
    raise AssertionError(f"timed out driving {name}; status: {status(kube.get('modeldeployments', name))}")


def released(obj: dict) -> bool:
    return not status(obj).get("candidate") and status(obj).get("phase") in ("Serving", "RolledBack")


def test_a_weaker_canary_is_rolled_back_on_accuracy_before_100_percent(cluster, kube, models, http, feedback):
    md = deploy_v1(kube, "weak-canary", models)
    url = status(md)["seldon"]["address"]
    kube.patch("modeldeployments", "weak-canary", {"spec": {
        "model": {"uri": models["weak"]},
        "strategy": {"type": "canary", "canary": {"steps": [50, 100], "interval": "2s"},
                     "analysis": {"quality": QUALITY}},
    }})
    weights: list[int] = []

    def watch(obj: dict) -> None:
        st = status(obj)
        if st.get("candidate"):
            weights.append(st["weights"].get(st["candidate"]["predictor"], 0))
    md = drive(kube, "weak-canary", url, http, feedback, released, watch=watch)
    st = status(md)
    assert st["phase"] == "RolledBack" and st["stable"]["uri"] == models["v1"]
    assert st["rolledBack"]["uri"] == models["weak"]
    assert max(weights) < 100, weights
    assert st["analysis"]["verdict"] == "worse" and st["analysis"]["metric"] == "accuracy"
    assert st["analysis"]["interval"][1] < 0  # candidate − stable is below 0 with confidence
    assert st["analysis"]["candidate"]["estimate"] < 0.5 < st["analysis"]["stable"]["estimate"]
    assert st["analysis"]["candidate"]["samples"] >= QUALITY["minSamples"]
    assert "worse with confidence" in st["lastDecision"]["reason"]
    rolled = [m for t, r, m in kube.events_for("weak-canary") if r == "RolledBack"]
    assert rolled and "accuracy candidate" in rolled[-1] and "interval" in rolled[-1]
    assert "Advanced" not in [r for _, r, _ in kube.events_for("weak-canary")]
    labels = 'metric="accuracy",name="weak-canary",namespace="default"'  # MLOpsRolloutRolledBackOnQuality's series
    assert metric(cluster, "mlops_modeldeployment_quality_rollbacks_total", labels) == 1


def test_an_equal_canary_is_promoted_on_accuracy(kube, models, http, feedback):
    md = deploy_v1(kube, "equal-canary", models)
    url = status(md)["seldon"]["address"]
    kube.patch("modeldeployments", "equal-canary", {"spec": {
        "model": {"uri": models["equal"]},
        "strategy": {"type": "canary", "canary": {"steps": [50, 100], "interval": "2s"},
                     "analysis": {"quality": QUALITY}},
    }})
    # No labels yet: once its interval has passed the step waits, and says for how many labels.
    waiting = kube.wait("modeldeployments", "equal-canary", lambda o: status(o).get("candidate") and
                        (status(o).get("lastDecision") or {}).get("action") == "WaitingForData", 60, "waiting for labels")
    assert "more labelled requests" in status(waiting)["lastDecision"]["reason"]
    assert status(waiting)["step"] == 0
    ready = next(c for c in status(waiting)["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "WaitingForData" and "more labelled requests" in ready["message"]
    md = drive(kube, "equal-canary", url, http, feedback, released)
    st = status(md)
    assert st["phase"] == "Serving" and st["stable"]["uri"] == models["equal"], st
    assert st["analysis"]["verdict"] in ("non-inferior", "better")
    assert st["analysis"]["interval"][0] > -QUALITY["minEffect"]
    assert st["quality"].startswith("accuracy ")
    reasons = [r for _, r, _ in kube.events_for("equal-canary")]
    assert reasons.count("Advanced") == 1 and "Promoted" in reasons
    advanced = next(m for _, r, m in kube.events_for("equal-canary") if r == "Advanced")
    assert "always-valid interval" in advanced


@pytest.mark.parametrize("name, model, promoted", [("shadow-far", "weak", False), ("shadow-near", "equal", True)])
def test_a_shadow_is_promoted_only_within_its_disagreement_bound(cluster, kube, models, http, feedback, name, model,
                                                                 promoted):
    md = deploy_v1(kube, name, models)
    url = status(md)["seldon"]["address"]
    kube.patch("modeldeployments", name, {"spec": {
        "model": {"uri": models[model]},
        "strategy": {"type": "shadow", "shadow": {"duration": "2s", "bounds": {
            "maxDisagreement": 0.2, "minPairs": 50, "maxDuration": "5m"}}},
    }})
    kube.wait("modeldeployments", name, lambda o: status(o).get("candidate") and
              (status(o).get("lastDecision") or {}).get("action") != "Waiting", 120, "shadow running")
    md = drive(kube, name, url, http, feedback, released)
    st = status(md)
    delta = st["shadowDelta"]
    assert delta["pairs"] >= 50 and len(delta["qq"]) == 21
    if promoted:
        assert st["phase"] == "Serving" and st["stable"]["uri"] == models["equal"]
        assert delta["withinBounds"] is True and delta["disagreementUpper"] <= 0.2
    else:
        assert st["phase"] == "RolledBack" and st["stable"]["uri"] == models["v1"]
        assert st["rolledBack"]["uri"] == models["weak"]
        assert delta["withinBounds"] is False and delta["disagreement"] > 0.5
        assert "not promoted" in st["lastDecision"]["reason"]
        labels = f'metric="shadowDelta",name="{name}",namespace="default"'
        assert metric(cluster, "mlops_modeldeployment_quality_rollbacks_total", labels) == 1


def test_an_abn_test_stops_the_worse_challenger_and_promotes_the_better_one(kube, models, http, feedback):
    kube.create("modeldeployments", {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "abn"},
        "spec": {"model": {"uri": models["majority"]}, "strategy": {"type": "direct"}},
    })
    md = kube.wait("modeldeployments", "abn", lambda o: status(o).get("phase") == "Serving", 120, "stable serving")
    url = status(md)["seldon"]["address"]
    kube.patch("modeldeployments", "abn", {"spec": {
        "strategy": {"analysis": {"quality": {**QUALITY, "minEffect": 0.2, "minSamples": 40}}},
        "challengers": [{"name": "good", "model": {"uri": models["v1"]}, "weight": 30},
                        {"name": "bad", "model": {"uri": models["weak"]}, "weight": 30}],
    }})
    md = kube.wait("modeldeployments", "abn", lambda o: len([w for w in status(o).get("weights", {}).values() if w == 30]) == 2,
                   120, "both challengers ready and served")
    t = status(md)["tournament"]
    good, bad = (next(a["model"]["predictor"] for a in t["challengers"] if a["name"] == n) for n in ("good", "bad"))

    # Phase 1: good's labels are held back (a label source can lag per arm), so only the loser can be decided.
    held: list[tuple[str, int]] = []
    deadline, start = time.monotonic() + 90, 0
    stopped_any = lambda o: any(a["stopped"] for a in status(o)["tournament"]["challengers"])  # noqa: E731
    while not stopped_any(md := kube.get("modeldeployments", "abn")):
        assert time.monotonic() < deadline, status(md)
        held += labelled_traffic(url, 40, start, http, feedback, hold={good})
        start += 40
    st = status(md)
    arms = {a["name"]: a for a in st["tournament"]["challengers"]}
    assert st["tournament"]["outcome"] == "running" and st["phase"] == "Progressing"
    assert arms["bad"]["stopped"] is True and arms["bad"]["verdict"] == "worse" and arms["bad"]["weight"] == 0
    assert arms["good"]["stopped"] is False and arms["good"]["weight"] == 30
    assert bad not in st["weights"] and st["weights"][good] == 30  # the loser's traffic went to stable
    stopped = [m for _, r, m in kube.events_for("abn") if r == "ChallengerStopped"]
    assert len(stopped) == 1 and "challenger bad stopped" in stopped[0] and "interval" in stopped[0]
    kube.wait("modeldeployments", "abn", lambda o: bad not in status(o)["seldon"]["replicas"], 60, "the loser stopped")

    # Phase 2: good's labels arrive; it is better than stable and the (stopped) loser: promoted.
    feedback(held)
    deadline = time.monotonic() + 90
    while (status(md := kube.get("modeldeployments", "abn"))["tournament"]["outcome"]) == "running":
        assert time.monotonic() < deadline, status(md)
        labelled_traffic(url, 40, start, http, feedback)
        start += 40
    st = status(md)
    t = st["tournament"]
    assert t["outcome"] == "winner" and t["winner"] == "good", t
    assert st["stable"]["uri"] == models["v1"] and st["phase"] == "Serving"
    arms = {a["name"]: a for a in t["challengers"]}
    assert arms["good"]["verdict"] == "better" and arms["good"]["interval"][0] > 0
    assert "Promoted" in [r for _, r, _ in kube.events_for("abn")]
    sdep = kube.get("seldondeployments", "abn", group="machinelearning.seldon.io", version="v1")
    assert [p["name"] for p in sdep["spec"]["predictors"]] == [st["stable"]["predictor"]] == [good]
