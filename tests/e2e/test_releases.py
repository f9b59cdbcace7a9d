"""Releases end to end in the embedded default: the operator writes SeldonDeployments, the local
Seldon stand-in runs real MLServer processes behind the splitter, and clients send real V2 requests.

- canary 20/50/100: the observed share per predictor at each step matches the weights (chi-square),
  v2 is promoted and v1 torn down;
- a candidate that answers errors is rolled back within the configured checks, while clients of
  the stable version see no error;
- shadow: the candidate gets mirrored requests, clients only ever get stable answers, and the
  mirrored traffic is measured for the analysis.
"""
from __future__ import annotations

import threading

import pytest
from scipy.stats import chisquare


from .harness import ROWS, Kube, ThreadedDevCluster, error_lines, make_model, send, status

pytestmark = pytest.mark.e2e
P_VALUE = 1e-3  # a correct split fails this test once in a thousand runs

@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("models")
    return {
        "v1": make_model(root / "v1"),
        "v2": make_model(root / "v2", flip=True),
        "bad": make_model(root / "bad", failure_rate=0.5),
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with ThreadedDevCluster(tmp_path_factory.mktemp("dev"), examples=None) as c:
        yield c
        assert not error_lines(c.operator_log()), error_lines(c.operator_log())


@pytest.fixture(scope="module")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


def deploy_v1(kube: Kube, name: str, models: dict[str, str]) -> dict:
    kube.create("modeldeployments", {
        "apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name},
        "spec": {"model": {"uri": models["v1"]}, "strategy": {"type": "direct"}},
    })
    return kube.wait("modeldeployments", name, lambda o: status(o).get("phase") == "Serving", 120, "v1 serving")


def predictors_of(obj: dict) -> dict[str, str]:
    st = status(obj)
    return {role: st[role]["predictor"] for role in ("stable", "candidate") if st.get(role)}


def test_canary_shares_follow_the_weights_then_v2_is_promoted_and_v1_torn_down(kube, models, http):
    """Every request of a healthy canary succeeds: the candidate gets traffic only once it is ready."""
    md = deploy_v1(kube, "canary", models)
    url = status(md)["seldon"]["address"]
    kube.patch("modeldeployments", "canary", {"spec": {
        "model": {"uri": models["v2"]}, "paused": True,
        "strategy": {"type": "canary", "canary": {"steps": [20, 50, 100], "interval": "2s"},
                     "analysis": {"minRequests": 30, "failureLimit": 2}},
    }})
    for step, weight in enumerate([20, 50, 100]):
        md = kube.wait("modeldeployments", "canary",
                       lambda o: status(o).get("step") == step and (status(o).get("lastDecision") or {}).get("action") == "Paused",
                       120, f"paused at step {step}")
        roles = predictors_of(md)
        assert status(md)["weights"] == {roles["stable"]: 100 - weight, roles["candidate"]: weight}
        answers = send(url, ROWS[:400], http=http)
        assert all(code == 200 for _, code, _ in answers)
        counts = [sum(p == roles[r] for p, _, _ in answers) for r in ("stable", "candidate")]
        if weight == 100:
            assert counts == [0, 400]
        else:
            result = chisquare(counts, f_exp=[4 * (100 - weight), 4 * weight])
            assert result.pvalue > P_VALUE, (step, counts, result)
        kube.patch("modeldeployments", "canary", {"spec": {"paused": False}})
        # Traffic until the analysis moves on, then hold the next step for measuring.
        moved = lambda o: status(o).get("step") != step or status(o).get("phase") == "Serving"  # noqa: E731
        for _ in range(60):
            assert all(code == 200 for _, code, _ in send(url, ROWS[:40], http=http))
            if moved(kube.get("modeldeployments", "canary")):
                break
        if step < 2:
            kube.patch("modeldeployments", "canary", {"spec": {"paused": True}})

    md = kube.wait("modeldeployments", "canary", lambda o: status(o).get("phase") == "Serving"
                   and not status(o).get("candidate"), 60, "v2 promoted")
    v2 = status(md)["stable"]["predictor"]
    assert status(md)["stable"]["uri"] == models["v2"]
    sdep = kube.get("seldondeployments", "canary", group="machinelearning.seldon.io", version="v1")
    assert [p["name"] for p in sdep["spec"]["predictors"]] == [v2]
    kube.wait("modeldeployments", "canary", lambda o: list(status(o)["seldon"]["replicas"]) == [v2], 60,
              "v1 torn down")
    assert {p for p, _, _ in send(url, ROWS[:50], http=http)} == {v2}
    reasons = [r for _, r, _ in kube.events_for("canary")]
    assert reasons.count("Advanced") == 2 and "Promoted" in reasons


def test_a_candidate_answering_errors_is_rolled_back_while_stable_clients_see_none(kube, models, http):
    md = deploy_v1(kube, "faulty", models)
    url = status(md)["seldon"]["address"]
    stable = status(md)["stable"]["predictor"]
    kube.patch("modeldeployments", "faulty", {"spec": {
        "model": {"uri": models["bad"]},
        "strategy": {"type": "canary", "canary": {"steps": [50, 100], "interval": "1m"},
                     "analysis": {"maxErrorRate": 0.05, "minRequests": 20, "failureLimit": 2}},
    }})
    kube.wait("modeldeployments", "faulty", lambda o: status(o).get("candidate") and
              (status(o).get("lastDecision") or {}).get("action") != "Waiting", 120, "candidate serving")

    answers: list = []
    done = threading.Event()

    def clients() -> None:
        while not done.is_set():
            answers.extend(send(url, ROWS[:20], http=http))

    worker = threading.Thread(target=clients)
    worker.start()
    try:
        md = kube.wait("modeldeployments", "faulty", lambda o: status(o).get("phase") == "RolledBack", 120,
                       "rolled back")
    finally:
        done.set()
        worker.join()

    st = status(md)
    assert st["stable"]["predictor"] == stable and not st.get("candidate")
    assert st["rolledBack"]["uri"] == models["bad"]
    assert st["lastDecision"]["reason"].startswith("2 failed checks: error rate")
    assert st["weights"] == {stable: 100}
    stable_answers = [code for p, code, _ in answers if p == stable]
    candidate_answers = [code for p, code, _ in answers if p != stable]
    assert stable_answers and all(code == 200 for code in stable_answers)
    assert any(code >= 500 for code in candidate_answers)
    warnings = [(t, r) for t, r, _ in kube.events_for("faulty") if r == "RolledBack"]
    assert warnings == [("Warning", "RolledBack")]
    condition = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert condition["status"] == "False" and condition["reason"] == "RolledBack"


def test_shadow_mirrors_to_the_candidate_and_clients_only_see_stable(kube, models, http):
    md = deploy_v1(kube, "shadow", models)
    url = status(md)["seldon"]["address"]
    stable = status(md)["stable"]["predictor"]
    expected = [o for _, _, o in send(url, ROWS[:60], http=http)]
    kube.patch("modeldeployments", "shadow", {"spec": {
        "model": {"uri": models["v2"]}, "strategy": {"type": "shadow", "shadow": {"duration": "10m"}},
    }})
    md = kube.wait("modeldeployments", "shadow", lambda o: status(o).get("candidate") and
                   (status(o).get("lastDecision") or {}).get("action") == "Analysing", 120, "shadow running")
    candidate = status(md)["candidate"]["predictor"]

    answers = send(url, ROWS[:60], http=http)
    assert {p for p, _, _ in answers} == {stable}
    assert [o for _, _, o in answers] == expected  # v2 (flipped labels) never answers a client

    md = kube.wait("modeldeployments", "shadow",
                   lambda o: (status(o).get("arms", {}).get("candidate") or {}).get("requests", 0) >= 60,
                   60, "mirrored requests measured for the analysis")
    assert status(md)["arms"]["candidate"]["errors"] == 0
    records = http.get(f"{url}/mirror", params={"predictor": candidate}).json()["records"]
    assert len(records) >= 60
    assert all(r["primary"]["predictor"] == stable and r["shadow"]["predictor"] == candidate for r in records)
