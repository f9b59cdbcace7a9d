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
    # Guardrails count once per analysis interval (the canary's 60s), however often it reconciles.
    for now in (10, 20, 40, 64):
        plan = advance(s, plan.status, V2, obs(now, candidate=FAILING))
        assert plan.status.failed_checks == 1 and plan.status.candidate == V2, now
        assert plan.status.weights[V2.predictor] == 20  # held, never advanced while breached
    plan = advance(s, plan.status, V2, obs(65, candidate=FAILING))
    assert plan.status.phase == "RolledBack"
    assert plan.status.candidate is None and plan.status.rolled_back == V2
    assert plan.status.weights == {V1.predictor: 100}
    assert "error rate 30.0%" in plan.status.last_decision.reason
    assert plan.events[-1].reason == "RolledBack" and plan.events[-1].cause is None  # not a quality rollback
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



# --- quality (issue 10): always-valid verdicts on labelled requests, shadow deltas -----------------

QUALITY = {"metric": "accuracy", "minEffect": 0.1, "alpha": 0.05, "minSamples": 50, "maxDuration": "30m"}
QCANARY = {"type": "canary", "canary": {"steps": [20, 100], "interval": "60s"},
           "analysis": {"minRequests": 20, "quality": QUALITY}}


def summary(**arms: tuple[int, int]) -> dict:
    """A monitor /summary with (correct, incorrect) labelled rows per predictor."""
    return {"predictors": {p.predictor: {"correct": c, "incorrect": i, "rows": c + i, "labelled": c + i}
                           for p, (c, i) in ((V1 if k == "v1" else V2, v) for k, v in arms.items())}}


def test_quality_canary_never_advances_without_labels_and_says_how_many_are_missing():
    s = spec(QCANARY)
    plan = advance(s, serving(), V2, obs(0, monitor=summary(v1=(0, 0))))
    for now, mon in ((120, None), (180, summary(v1=(20, 2), v2=(10, 1)))):
        plan = advance(s, plan.status, V2, obs(now, candidate=HEALTHY, monitor=mon))
        assert plan.status.step == 0 and plan.status.weights[V2.predictor] == 20
        assert plan.status.last_decision.action == "WaitingForData"
    assert "waiting for 67 more labelled requests" in plan.status.last_decision.reason
    assert plan.status.analysis.verdict == "insufficient" and plan.status.analysis.missing == 67


def test_quality_canary_rolls_back_a_worse_candidate_at_once_with_its_numbers():
    s = spec(QCANARY)
    plan = advance(s, serving(), V2, obs(0, monitor=summary(v1=(0, 0))))
    plan = advance(s, plan.status, V2, obs(10, candidate=HEALTHY, monitor=summary(v1=(190, 10), v2=(60, 140))))
    assert plan.status.phase == "RolledBack" and plan.status.rolled_back == V2
    event = plan.events[-1]
    assert event.reason == "RolledBack" and "worse with confidence" in event.message
    assert "accuracy candidate 0.3 (n=200) vs stable 0.95 (n=200)" in event.message
    a = plan.status.analysis
    assert a.verdict == "worse" and a.interval[1] < 0 and a.min_effect == 0.1
    assert a.candidate.samples == 200 and a.stable.estimate == 0.95


def test_quality_canary_advances_an_equal_candidate_after_the_interval_then_promotes():
    s = spec(QCANARY)
    plan = advance(s, serving(), V2, obs(0, monitor=summary(v1=(0, 0))))
    equal = summary(v1=(380, 20), v2=(380, 20))
    plan = advance(s, plan.status, V2, obs(30, candidate=HEALTHY, monitor=equal))
    assert plan.status.step == 0 and plan.status.last_decision.action == "Analysing"
    plan = advance(s, plan.status, V2, obs(61, candidate=HEALTHY, monitor=equal))
    assert plan.status.step == 1 and plan.events[-1].reason == "Advanced"
    assert "at most 0.1 worse" in plan.events[-1].message
    plan = advance(s, plan.status, V2, obs(122, candidate=HEALTHY, monitor=equal))
    assert plan.status.stable == V2 and plan.promoted == V2
    assert plan.status.quality == "accuracy 0.95 vs 0.95"


def test_quality_canary_inconclusive_waits_then_rolls_back_at_max_duration():
    s = spec(QCANARY)
    plan = advance(s, serving(), V2, obs(0, monitor=summary(v1=(0, 0))))
    unclear = summary(v1=(45, 15), v2=(40, 20))  # 60 each: neither worse nor within 0.1 with confidence
    plan = advance(s, plan.status, V2, obs(100, candidate=HEALTHY, monitor=unclear))
    assert plan.status.analysis.verdict == "inconclusive" and plan.status.step == 0
    assert plan.status.last_decision.action == "Analysing"
    plan = advance(s, plan.status, V2, obs(1800, candidate=HEALTHY, monitor=unclear))
    assert plan.status.phase == "RolledBack" and "maxDuration 30m" in plan.status.last_decision.reason


def test_quality_compares_stable_only_since_the_release_started():
    s = spec(QCANARY)
    # stable labelled 1000 perfect answers before the release: they must not count against the candidate
    plan = advance(s, serving(), V2, obs(0, monitor=summary(v1=(1000, 0))))
    assert plan.status.quality_baseline == {"n": 1000, "total": 1000.0, "totalSq": 1000.0}
    plan = advance(s, plan.status, V2, obs(61, candidate=HEALTHY, monitor=summary(v1=(1380, 20), v2=(380, 20))))
    assert plan.status.analysis.stable.samples == 400 and plan.status.step == 1


@pytest.mark.parametrize("candidate, expected", [((390, 10), "Promoted"), ((300, 100), "RolledBack")])
def test_quality_abtest_promotes_a_better_candidate_and_rolls_back_a_worse_one(candidate, expected):
    s = spec({"type": "abtest", "abtest": {"duration": "60s"}, "analysis": {"quality": QUALITY}})
    plan = advance(s, serving(), V2, obs(0, monitor=summary(v1=(0, 0))))
    plan = advance(s, plan.status, V2, obs(61, candidate=HEALTHY, stable=HEALTHY,
                                          monitor=summary(v1=(340, 60), v2=candidate)))
    assert plan.status.last_decision.action == expected


def test_quality_abtest_keeps_stable_at_max_duration_without_a_winner():
    s = spec({"type": "abtest", "abtest": {"duration": "60s"}, "analysis": {"quality": QUALITY}})
    plan = advance(s, serving(), V2, obs(0, monitor=summary(v1=(0, 0))))
    equal = summary(v1=(380, 20), v2=(380, 20))
    plan = advance(s, plan.status, V2, obs(61, candidate=HEALTHY, stable=HEALTHY, monitor=equal))
    assert plan.status.candidate == V2 and plan.status.analysis.verdict == "non-inferior"
    plan = advance(s, plan.status, V2, obs(1800, candidate=HEALTHY, stable=HEALTHY, monitor=equal))
    assert plan.status.phase == "RolledBack" and "kept stable at maxDuration" in plan.status.last_decision.reason


def pairs(n: int, disagree: int) -> dict:
    return {"predictors": {}, "pairs": [
        {"requestId": f"r{i}", "stable": {"predictor": V1.predictor, "predictions": [1]},
         "shadow": [{"predictor": V2.predictor, "predictions": [0 if i < disagree else 1]}], "label": None}
        for i in range(n)]}


SHADOW_BOUNDS = {"type": "shadow", "shadow": {"duration": "60s", "bounds": {"maxDisagreement": 0.2, "minPairs": 50}}}


def test_shadow_beyond_its_bound_is_not_promoted_and_status_shows_the_delta():
    s = spec(SHADOW_BOUNDS)
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(10, candidate=HEALTHY, monitor=pairs(20, 20)))
    assert plan.status.candidate == V2 and "waiting for 30 more" in plan.status.last_decision.reason
    plan = advance(s, plan.status, V2, obs(20, candidate=HEALTHY, monitor=pairs(60, 60)))
    assert plan.status.phase == "RolledBack" and plan.status.stable == V1
    assert "not promoted" in plan.events[-1].message and "disagreement" in plan.events[-1].message
    d = plan.status.shadow_delta
    assert d.pairs == 60 and d.disagreement == 1.0 and d.within_bounds is False and d.qq[0] == [0.0, 1.0, 0.0]


def test_shadow_within_its_bound_is_promoted_after_its_duration():
    s = spec(SHADOW_BOUNDS)
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(30, candidate=HEALTHY, monitor=pairs(80, 0)))
    assert plan.status.candidate == V2 and plan.status.last_decision.action == "Analysing"
    plan = advance(s, plan.status, V2, obs(61, candidate=HEALTHY, monitor=pairs(80, 0)))
    assert plan.status.stable == V2 and "within bounds" in plan.status.last_decision.reason
    assert plan.status.shadow_delta.disagreement_upper < 0.2


def test_shadow_with_an_undecided_delta_waits_then_is_not_promoted_at_max_duration():
    s = spec({**SHADOW_BOUNDS, "shadow": {"duration": "60s", "bounds": {"maxDisagreement": 0.2, "maxDuration": "10m"}}})
    plan = advance(s, serving(), V2, obs(0))
    plan = advance(s, plan.status, V2, obs(61, candidate=HEALTHY, monitor=pairs(60, 12)))
    assert plan.status.candidate == V2 and plan.status.last_decision.action == "Analysing"
    plan = advance(s, plan.status, V2, obs(600, candidate=HEALTHY, monitor=pairs(60, 12)))
    assert plan.status.phase == "RolledBack" and "maxDuration" in plan.status.last_decision.reason


# --- A/B/n: challengers -------------------------------------------------------------------------

GOOD = served_model("uri:file:///m/good", "file:///m/good", None)
BAD = served_model("uri:file:///m/bad", "file:///m/bad", None)


def abn_spec(**quality) -> ModelDeploymentSpec:
    return spec({"analysis": {"quality": {**QUALITY, **quality}}},
                challengers=[{"name": "good", "model": {"uri": "file:///m/good"}, "weight": 30},
                             {"name": "bad", "model": {"uri": "file:///m/bad"}, "weight": 30}])


def abn_summary(stable: tuple[int, int], good: tuple[int, int], bad: tuple[int, int]) -> dict:
    return {"predictors": {p.predictor: {"correct": c, "incorrect": i, "rows": c + i}
                           for p, (c, i) in ((V1, stable), (GOOD, good), (BAD, bad))}}


def abn_obs(now, monitor=None, ready=(V1, GOOD, BAD), **kw):
    return obs(now, ready=ready, monitor=monitor, **kw)


CHALLENGERS = {"good": GOOD, "bad": BAD}


def test_abn_serves_every_ready_challenger_stops_a_loser_and_promotes_the_winner():
    s = abn_spec()
    plan = advance(s, serving(), V1, abn_obs(0, abn_summary((0, 0), (0, 0), (0, 0)), ready=(V1,)), CHALLENGERS)
    assert plan.status.tournament.outcome == "running" and plan.status.phase == "Progressing"
    assert plan.status.weights == {V1.predictor: 100, GOOD.predictor: 0, BAD.predictor: 0}  # not ready yet
    plan = advance(s, plan.status, V1, abn_obs(1, abn_summary((0, 0), (0, 0), (0, 0))), CHALLENGERS)
    assert {p.name: p.traffic for p in plan.predictors} == {V1.predictor: 40, GOOD.predictor: 30, BAD.predictor: 30}
    assert plan.status.last_decision.action == "WaitingForData"
    # bad is far worse than stable: stopped, its traffic goes to stable; nothing is decided yet for good
    plan = advance(s, plan.status, V1, abn_obs(2, abn_summary((50, 10), (55, 5), (10, 50))), CHALLENGERS)
    assert [(a.name, a.stopped) for a in plan.status.tournament.challengers] == [("good", False), ("bad", True)]
    assert {p.name: p.traffic for p in plan.predictors} == {V1.predictor: 70, GOOD.predictor: 30}
    stopped = [e for e in plan.events if e.reason == "ChallengerStopped"]
    assert len(stopped) == 1 and "bad" in stopped[0].message and "interval" in stopped[0].message
    assert plan.status.tournament.outcome == "running"
    # good is better than stable with family-wise confidence: promoted
    plan = advance(s, plan.status, V1, abn_obs(3, abn_summary((700, 300), (390, 10), (10, 50))), CHALLENGERS)
    assert plan.status.tournament.outcome == "winner" and plan.status.tournament.winner == "good"
    assert plan.status.stable == GOOD and plan.promoted == GOOD and plan.status.phase == "Serving"
    assert [p.name for p in plan.predictors] == [GOOD.predictor]
    assert plan.events[-1].reason == "Promoted" and "good is better than stable" in plan.events[-1].message
    # The same spec again: the outcome holds, spec.model (V1) is not re-released
    again = advance(s, plan.status, V1, abn_obs(4, abn_summary((700, 300), (390, 10), (10, 50)), ready=(GOOD,)), CHALLENGERS)
    assert again.status.stable == GOOD and again.status.candidate is None and not again.events


def test_abn_keeps_stable_at_max_duration_without_a_winner():
    s = abn_spec()
    equal = abn_summary((380, 20), (380, 20), (380, 20))
    plan = advance(s, serving(), V1, abn_obs(0, abn_summary((0, 0), (0, 0), (0, 0))), CHALLENGERS)
    plan = advance(s, plan.status, V1, abn_obs(60, equal), CHALLENGERS)
    assert plan.status.tournament.outcome == "running" and plan.status.last_decision.action == "Analysing"
    plan = advance(s, plan.status, V1, abn_obs(1800, equal), CHALLENGERS)
    assert plan.status.tournament.outcome == "keep-stable" and plan.status.stable == V1
    assert [p.name for p in plan.predictors] == [V1.predictor]
    assert plan.status.last_decision.action == "StableKept"


def test_abn_spec_needs_a_quality_metric_and_leaves_stable_a_share():
    with pytest.raises(ValueError, match="analysis.quality"):
        spec(challengers=[{"name": "a", "model": {"uri": "file:///a"}, "weight": 10}])
    with pytest.raises(ValueError, match="sum below 100"):
        spec({"analysis": {"quality": QUALITY}}, challengers=[
            {"name": "a", "model": {"uri": "file:///a"}, "weight": 50},
            {"name": "b", "model": {"uri": "file:///b"}, "weight": 50}])
