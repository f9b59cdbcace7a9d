"""Error-rate and p95-latency guardrails of each A/B/n challenger: a breaching challenger loses its traffic."""
from __future__ import annotations

from mlops_operator.api.modeldeployment import AnalysisLimits, ArmMetrics, ModelDeploymentSpec, ModelDeploymentStatus
from mlops_operator.decisions.arm_guardrails import check_challengers
from mlops_operator.decisions.rollout import Observation, advance, served_model

LIMITS = AnalysisLimits(max_error_rate=0.05, max_latency_ms=200, min_requests=50, failure_limit=2)
OK = ArmMetrics(requests=100, errors=1, error_rate=0.01, latency_p95_ms=80)
ERRORS = ArmMetrics(requests=100, errors=20, error_rate=0.2, latency_p95_ms=80)
SLOW = ArmMetrics(requests=100, errors=0, error_rate=0.0, latency_p95_ms=900)
FEW = ArmMetrics(requests=10, errors=0, error_rate=0.0, latency_p95_ms=900)


def test_a_breach_counts_a_pass_resets_too_few_requests_count_nothing_and_the_limit_loses():
    checks = check_challengers({"a": OK, "b": ERRORS, "c": SLOW, "d": FEW, "e": None}, LIMITS,
                               {"a": 1, "b": 1, "c": 0, "d": 1})
    assert (checks["a"].verdict, checks["a"].failed_checks, checks["a"].lost) == ("Success", 0, False)
    assert (checks["b"].failed_checks, checks["b"].lost) == (2, True)
    assert "error rate 20.0% over 100 requests exceeds 5.0%" in checks["b"].reason
    assert "check 2 of 2" in checks["b"].reason
    assert (checks["c"].failed_checks, checks["c"].lost) == (1, False) and "p95 latency 900ms exceeds 200ms" in checks["c"].reason
    assert (checks["d"].verdict, checks["d"].failed_checks, checks["d"].lost) == ("Inconclusive", 1, False)
    assert checks["e"].verdict == "Inconclusive"
    once = check_challengers({"b": ERRORS}, LIMITS.model_copy(update={"failure_limit": 1}))
    assert once["b"].lost


V1 = served_model("tr:v1", "file:///m/v1", "v1")
GOOD = served_model("uri:file:///m/good", "file:///m/good", None)
BAD = served_model("uri:file:///m/bad", "file:///m/bad", None)
RESOLVED = {"good": GOOD, "bad": BAD}


def test_a_challenger_out_of_its_guardrails_loses_at_the_analysis_interval_with_the_numbers_in_the_event():
    s = ModelDeploymentSpec.model_validate({"model": {"trainingRun": "v1"}, "strategy": {"analysis": {
        "maxErrorRate": 0.05, "minRequests": 50, "failureLimit": 2, "interval": "60s",
        "quality": {"metric": "accuracy", "minEffect": 0.1}}},
        "challengers": [{"name": "good", "model": {"uri": "file:///m/good"}, "weight": 30},
                        {"name": "bad", "model": {"uri": "file:///m/bad"}, "weight": 20}]})
    ready = frozenset(m.predictor for m in (V1, GOOD, BAD))
    no_labels = {"predictors": {}}

    def turn(status, now, bad=ERRORS):
        return advance(s, status, V1, Observation(now=now, ready=ready, monitor=no_labels,
                                                  challenger_metrics={GOOD.predictor: OK, BAD.predictor: bad}), RESOLVED)

    plan = advance(s, ModelDeploymentStatus(), V1, Observation(now=0, ready=frozenset({V1.predictor})))
    plan = turn(plan.status, 1)  # the test starts: the first check counts one failure for bad
    bad = next(a for a in plan.status.tournament.challengers if a.name == "bad")
    assert bad.failed_checks == 1 and not bad.stopped
    plan = turn(plan.status, 30)  # within the interval: not checked again
    assert next(a for a in plan.status.tournament.challengers if a.name == "bad").failed_checks == 1
    plan = turn(plan.status, 61)
    bad = next(a for a in plan.status.tournament.challengers if a.name == "bad")
    assert bad.stopped and bad.weight == 0 and "error rate 20.0%" in bad.reason
    assert {p.name: p.traffic for p in plan.predictors} == {V1.predictor: 70, GOOD.predictor: 30}
    event = next(e for e in plan.events if e.reason == "ChallengerStopped")
    assert "challenger bad stopped" in event.message and "error rate 20.0% over 100 requests exceeds 5.0%" in event.message
    good = next(a for a in plan.status.tournament.challengers if a.name == "good")
    assert not good.stopped and good.failed_checks == 0 and plan.status.tournament.outcome == "running"
    # a stopped challenger stays stopped and keeps why, whatever its later numbers
    plan = turn(plan.status, 200, bad=OK)
    bad = next(a for a in plan.status.tournament.challengers if a.name == "bad")
    assert bad.stopped and "error rate 20.0%" in bad.reason


def test_a_pass_between_two_breaches_keeps_the_challenger():
    s = ModelDeploymentSpec.model_validate({"model": {"trainingRun": "v1"}, "strategy": {"analysis": {
        "maxLatencyMs": 200, "minRequests": 50, "failureLimit": 2, "interval": "60s",
        "quality": {"metric": "accuracy", "minEffect": 0.1}}},
        "challengers": [{"name": "bad", "model": {"uri": "file:///m/bad"}, "weight": 20}]})
    ready = frozenset({V1.predictor, BAD.predictor})
    plan = advance(s, ModelDeploymentStatus(), V1, Observation(now=0, ready=frozenset({V1.predictor})))
    for now, metrics in ((1, SLOW), (62, OK), (123, SLOW)):
        plan = advance(s, plan.status, V1, Observation(now=now, ready=ready, monitor={"predictors": {}},
                                                       challenger_metrics={BAD.predictor: metrics}), {"bad": BAD})
    arm = plan.status.tournament.challengers[0]
    assert not arm.stopped and arm.failed_checks == 1
