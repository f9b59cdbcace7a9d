"""Table tests of the release state machine: every strategy, every exit."""
from __future__ import annotations

import pytest

from mlops_operator.api.modeldeployment import (
    PROMOTE_ANNOTATION,
    ArmMetrics,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
)
from mlops_operator.decisions.rollout import Observation, advance, served_model

V1 = served_model("tr:v1", "file:///m/v1", "v1")
V2 = served_model("tr:v2", "file:///m/v2", "v2")
V3 = served_model("tr:v3", "file:///m/v3", "v3")
HEALTHY = ArmMetrics(requests=100, errors=0, error_rate=0.0, latency_p95_ms=20)
FAILING = ArmMetrics(requests=100, errors=30, error_rate=0.3, latency_p95_ms=20)
FEW = ArmMetrics(requests=3, errors=0, error_rate=0.0, latency_p95_ms=20)


def spec(strategy: dict | None = None, **kw) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate({"model": {"trainingRun": "v2"}, "strategy": strategy or {}, **kw})


def obs(now: float, ready=(V1, V2), **kw) -> Observation:
    return Observation(now=now, ready=frozenset(m.predictor for m in ready), **kw)


def serving(model=V1) -> ModelDeploymentStatus:
    return advance(spec(), ModelDeploymentStatus(), model, obs(0, ready=(model,))).status


CANARY = {"type": "canary", "canary": {"steps": [20, 50, 100], "interval": "60s"},
          "analysis": {"minRequests": 20, "failureLimit": 2}}


def test_first_deploy_serves_the_model_alone_and_names_it_champion():
    plan = advance(spec(), ModelDeploymentStatus(), V1, obs(0, ready=(V1,)))
    assert plan.status.phase == "Serving"
    assert [(p.name, p.traffic, p.shadow) for p in plan.predictors] == [(V1.predictor, 100, False)]
    assert plan.promoted == V1
    assert plan.status.traffic == "100"


def test_first_deploy_is_progressing_until_ready_and_failed_when_seldon_says_so():
    assert advance(spec(), ModelDeploymentStatus(), V1, obs(0, ready=())).status.phase == "Progressing"
    failed = advance(spec(), ModelDeploymentStatus(), V1, obs(0, ready=(), failed={V1.predictor: "crash"}))
    assert failed.status.phase == "Failed"


def test_direct_replaces_stable_once_the_new_version_is_ready():
    waiting = advance(spec(), serving(), V2, obs(10, ready=(V1,)))
    assert waiting.status.stable == V1 and waiting.status.candidate == V2
    assert {p.name: p.traffic for p in waiting.predictors} == {V1.predictor: 100, V2.predictor: 0}
    plan = advance(spec(), waiting.status, V2, obs(20))
    assert plan.status.stable == V2 and plan.status.candidate is None
    assert [p.name for p in plan.predictors] == [V2.predictor]
    assert plan.promoted == V2


def test_a_candidate_gets_traffic_only_once_ready_and_loses_it_if_it_stops_answering():
    s = spec(CANARY)
    plan = advance(s, serving(), V2, obs(0, ready=(V1,)))
    assert plan.status.weights == {V1.predictor: 100, V2.predictor: 0}
    plan = advance(s, plan.status, V2, obs(5))
    assert plan.status.weights == {V1.predictor: 80, V2.predictor: 20}
    assert plan.status.step_started_at == "1970-01-01T00:00:05Z"  # analysis counts from first traffic
    plan = advance(s, plan.status, V2, obs(6, ready=(V1,)))
    assert plan.status.weights == {V1.predictor: 100, V2.predictor: 0}


def test_canary_walks_its_steps_and_promotes():
    s = spec(CANARY)
    plan = advance(s, serving(), V2, obs(0))
    assert plan.status.weights == {V1.predictor: 80, V2.predictor: 20}
    assert plan.status.traffic == "80/20"
    assert plan.status.phase == "Progressing"
    # Within the interval nothing moves.
    plan = advance(s, plan.status, V2, obs(30, candidate=HEALTHY))
    assert plan.status.weights[V2.predictor] == 20 and plan.status.last_decision.action == "Analysing"
    plan = advance(s, plan.status, V2, obs(60, candidate=HEALTHY))
    assert plan.status.weights == {V1.predictor: 50, V2.predictor: 50}
    plan = advance(s, plan.status, V2, obs(120, candidate=HEALTHY))
    assert plan.status.weights == {V1.predictor: 0, V2.predictor: 100}
    assert plan.status.traffic == "0/100"
    plan = advance(s, plan.status, V2, obs(180, candidate=HEALTHY))
    assert plan.status.stable == V2 and plan.status.candidate is None
    assert plan.status.phase == "Serving"
    assert plan.promoted == V2
    assert [p.name for p in plan.predictors] == [V2.predictor]
    assert [e.reason for e in plan.events] == ["Promoted"]


def test_canary_rolls_back_after_failure_limit_and_does_not_retry_the_same_version():
    s = spec(CANARY)
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(5, candidate=FAILING))
    assert plan.status.failed_checks == 1 and plan.status.candidate == V2
    assert plan.events[0].type == "Warning"
    plan = advance(s, plan.status, V2, obs(10, candidate=FAILING))
    assert plan.status.phase == "RolledBack"
    assert plan.status.candidate is None and plan.status.rolled_back == V2
    assert plan.status.weights == {V1.predictor: 100}
    assert "error rate 30.0%" in plan.status.last_decision.reason
    # The same spec again: no new release of the rolled-back version.
    again = advance(s, plan.status, V2, obs(20))
    assert again.status.candidate is None and again.status.phase == "RolledBack"
    # A new version starts a new release and clears the rollback.
    fresh = advance(s, again.status, V3, obs(30, ready=(V1, V3)))
    assert fresh.status.candidate == V3 and fresh.status.rolled_back is None


def test_errors_fail_a_check_before_min_requests_when_the_budget_is_already_blown():
    s = spec(CANARY)
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(5, candidate=ArmMetrics(requests=5, errors=5, error_rate=1.0)))
    assert plan.status.failed_checks == 1


def test_candidate_that_never_becomes_ready_is_rolled_back_at_the_deadline():
    s = spec({**CANARY, "progressDeadline": "2m"})
    plan = advance(s, serving(), V2, obs(0, ready=(V1,)))
    plan = advance(s, plan.status, V2, obs(60, ready=(V1,)))
    assert plan.status.candidate == V2 and plan.status.last_decision.action == "Waiting"
    plan = advance(s, plan.status, V2, obs(121, ready=(V1,)))
    assert plan.status.phase == "RolledBack"
    assert "progressDeadline" in plan.status.last_decision.reason


def test_crashed_candidate_is_rolled_back_at_once():
    s = spec(CANARY)
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(1, ready=(V1,), failed={V2.predictor: "process exited with 1"}))
    assert plan.status.phase == "RolledBack"
    assert "process exited with 1" in plan.status.last_decision.reason


def test_inconclusive_analysis_holds_then_rolls_back_after_the_deadline():
    s = spec({**CANARY, "progressDeadline": "5m"})
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(61, candidate=FEW))
    assert plan.status.step == 0 and "3 of 20 requests" in plan.status.last_decision.reason
    plan = advance(s, plan.status, V2, obs(61 + 300, candidate=FEW))
    assert plan.status.phase == "RolledBack"


def test_manual_promote_and_abort_act_once_per_annotation_value():
    s = spec(CANARY)
    plan = advance(s, serving(), V2, obs(0))
    promoted = advance(s, plan.status, V2, obs(1, promote="t1"))
    assert promoted.status.stable == V2
    assert promoted.status.handled_annotations == {PROMOTE_ANNOTATION: "t1"}
    aborted = advance(s, plan.status, V2, obs(1, abort="a1"))
    assert aborted.status.phase == "RolledBack"
    # The same abort value later does not abort the next release.
    restarted = advance(s, aborted.status, V3, obs(2, ready=(V1, V3), abort="a1"))
    assert restarted.status.candidate == V3


def test_paused_holds_the_step():
    s = spec(CANARY, paused=True)
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(500, candidate=HEALTHY))
    assert plan.status.phase == "Paused" and plan.status.step == 0


def test_spec_change_mid_release_rolls_back_and_starts_the_new_version():
    s = spec(CANARY)
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V3, obs(5, ready=(V1, V3)))
    assert plan.status.candidate == V3
    assert [e.reason for e in plan.events] == ["RolledBack", "Started"]


@pytest.mark.parametrize(
    ("stable", "candidate", "winner"),
    [
        (HEALTHY, HEALTHY, "Promoted"),
        (HEALTHY, FAILING, "RolledBack"),
        (HEALTHY, ArmMetrics(requests=100, errors=1, error_rate=0.01), "RolledBack"),
    ],
)
def test_abtest_decides_after_its_duration(stable, candidate, winner):
    s = spec({"type": "abtest", "abtest": {"stableWeight": 50, "candidateWeight": 50, "duration": "60s"},
              "analysis": {"failureLimit": 5, "maxErrorRate": 0.5}})
    plan = advance(s, serving(), V2, obs(0))
    assert plan.status.weights == {V1.predictor: 50, V2.predictor: 50}
    plan = advance(s, plan.status, V2, obs(61, stable=stable, candidate=candidate))
    assert plan.status.last_decision.action == winner


def test_shadow_mirrors_and_never_routes_live_traffic_to_the_candidate():
    s = spec({"type": "shadow", "shadow": {"percent": 100, "duration": "60s"}, "autoPromote": False})
    plan = advance(s, serving(), V2, obs(0))
    preds = {p.name: p for p in plan.predictors}
    assert preds[V1.predictor].traffic == 100 and not preds[V1.predictor].shadow
    assert preds[V2.predictor].shadow
    assert plan.status.traffic == "100/shadow"
    plan = advance(s, plan.status, V2, obs(61, candidate=HEALTHY))
    assert plan.status.phase == "Paused" and plan.status.last_decision.action == "AwaitingPromotion"
    plan = advance(s, plan.status, V2, obs(62, candidate=HEALTHY, promote="go"))
    assert plan.status.stable == V2


def test_advance_is_pure():
    s = spec(CANARY)
    status = serving()
    before = status.model_dump()
    first = advance(s, status, V2, obs(0))
    second = advance(s, status, V2, obs(0))
    assert status.model_dump() == before
    assert first == second

