"""Drift conditions, episodes and the one-retrain-per-episode rule (pure)."""
from __future__ import annotations

from mlops_operator.api.common import to_rfc3339
from mlops_operator.api.mlproject import DriftPolicy
from mlops_operator.decisions.drift_policy import (Observation, drift_condition, drift_run_name, observations, plan_drift,
                                                   quality_condition)
from mlops_operator.decisions.project import RunSummary

T0 = 1_800_000_000.0
POLICY = DriftPolicy(enabled=True, retrain=True, cooldown_seconds=600)
F3 = {"feature": "f3", "kind": "numeric", "drifted": True, "effect": 0.9, "psi": 0.9, "js": 0.4, "ks": 0.35,
      "wasserstein": 0.9, "adjustedP": 1e-9}


def _obs(verdict: str, version: str = "v1", **kw) -> Observation:
    return Observation("dep", "stable", version, f"file:///m/{version}", verdict, f"reason {verdict}",
                       features=(F3,) if verdict == "Drifted" else (), window={"requests": 300}, **kw)


def _drift_run(name: str, episode: str, created: float, phase: str | None = "Running") -> RunSummary:
    return RunSummary(name, phase, "live-x", "drift", created=to_rfc3339(created), episode=episode)


def test_observations_from_the_monitor_json_keep_the_stable_predictor():
    report = {"predictors": {
        "stable": {"modelVersion": "v1", "modelUri": "u", "input": {"verdict": "Drifted", "reason": "1 of 5",
                                                                     "features": [F3], "window": {"requests": 300}}},
        "canary": {"modelVersion": "v2", "input": {"verdict": "NoDrift", "reason": "ok"}}}}
    obs = observations(report, "dep", "stable")
    assert [o.predictor for o in obs] == ["stable"] and obs[0].drifted_features == [F3]
    assert len(observations(report, "dep", None)) == 2


def test_conditions_name_the_drifted_feature_with_statistics():
    status, reason, message = drift_condition([_obs("Drifted")])
    assert (status, reason) == ("True", "DriftDetected")
    assert "f3 (psi 0.900, js 0.400, ks 0.350, p 1e-09)" in message and "model v1" in message
    assert drift_condition([_obs("NoDrift")])[:2] == ("False", "NoDrift")
    assert drift_condition([_obs("Inconclusive")])[:2] == ("Unknown", "Inconclusive")
    assert drift_condition([])[:2] == ("Unknown", "NoTraffic")
    assert drift_condition([_obs("Drifted")], monitor_ok=False)[:2] == ("Unknown", "MonitorUnavailable")
    pred = _obs("NoDrift", prediction_verdict="Drifted", prediction_features=({"feature": "class", "drifted": True},))
    assert drift_condition([pred])[:2] == ("True", "PredictionDrift")


def test_quality_condition_counts_per_feature():
    bad = _obs("NoDrift", quality={"features": {"f0": {"bad": 2, "wrongType": 2}}, "unknownInputs": 1}, unanswered=3)
    status, reason, message = quality_condition([bad])
    assert (status, reason) == ("False", "SchemaViolations")
    assert "f0: 2 wrong type" in message and "3 requests the model could not answer" in message
    assert quality_condition([_obs("NoDrift")])[0] == "True"


def test_drift_starts_one_episode_and_one_retrain_then_none_while_it_runs_or_cools_down():
    plan = plan_drift("p", POLICY, None, [_obs("Drifted")], [], monitor_ok=True, now=T0,
                      promoted_at=to_rfc3339(T0 - 3600))
    assert plan.retrain is not None and plan.retrain.episode == f"v1@{to_rfc3339(T0)}"
    assert plan.retrain.name == drift_run_name("p", plan.retrain.episode) and plan.retrain.name.startswith("p-drift-")
    assert plan.retrain.evidence["features"][0]["feature"] == "f3" and plan.retrain.evidence["window"] == {"requests": 300}
    assert plan.status["staleness"][0]["secondsToDrift"] == 3600.0
    assert [e[1] for e in plan.events] == ["DriftDetected"]
    run = _drift_run(plan.retrain.name, plan.retrain.episode, T0)
    # the same episode later: its run exists (running, then finished): no second run
    for phase in ("Running", "Blessed", "Rejected"):
        again = plan_drift("p", POLICY, plan.status, [_obs("Drifted")], [run.__class__(**{**run.__dict__, "phase": phase})],
                           monitor_ok=True, now=T0 + 5000)
        assert again.retrain is None and again.status["episode"] == plan.retrain.episode and not again.events


def test_a_restart_that_lost_the_status_recovers_the_episode_from_the_runs():
    first = plan_drift("p", POLICY, None, [_obs("Drifted")], [], monitor_ok=True, now=T0)
    run = _drift_run(first.retrain.name, first.retrain.episode, T0)
    lost = plan_drift("p", POLICY, None, [_obs("Drifted")], [run], monitor_ok=True, now=T0 + 7200)
    assert lost.retrain is None and lost.status["episode"] == first.retrain.episode


def test_cooldown_and_cap_across_episodes():
    first = plan_drift("p", POLICY, None, [_obs("Drifted")], [], monitor_ok=True, now=T0)
    run = _drift_run(first.retrain.name, first.retrain.episode, T0, phase="Blessed")
    cleared = plan_drift("p", POLICY, first.status, [_obs("NoDrift", "v2")], [run], monitor_ok=True, now=T0 + 60)
    assert "episode" not in cleared.status and [e[1] for e in cleared.events] == ["DriftCleared"]
    # the new version drifts within the cooldown: a new episode, no run yet
    soon = plan_drift("p", POLICY, cleared.status, [_obs("Drifted", "v2")], [run], monitor_ok=True, now=T0 + 120)
    assert soon.retrain is None and "cooldown" in soon.waiting and soon.status["episode"].startswith("v2@")
    later = plan_drift("p", POLICY, soon.status, [_obs("Drifted", "v2")], [run], monitor_ok=True, now=T0 + 700)
    assert later.retrain is not None and later.retrain.episode == soon.status["episode"]
    busy = _drift_run("other", "v0@x", T0 - 10_000, phase="Running")
    capped = plan_drift("p", POLICY, soon.status, [_obs("Drifted", "v2")], [run, busy], monitor_ok=True, now=T0 + 700)
    assert capped.retrain is None and "maxConcurrentRetrains" in capped.waiting


def test_no_retrain_unless_asked_and_inconclusive_keeps_the_episode():
    quiet = plan_drift("p", DriftPolicy(enabled=True), None, [_obs("Drifted")], [], monitor_ok=True, now=T0)
    assert quiet.retrain is None and quiet.drifted[0] == "True"
    waiting = plan_drift("p", POLICY, quiet.status, [_obs("Inconclusive", "v2")], [], monitor_ok=True, now=T0 + 10)
    assert waiting.drifted[0] == "Unknown" and waiting.status["episode"] == quiet.status["episode"]
    busy = RunSummary("manual", "Running", "v1", "manual", created=to_rfc3339(T0))
    blocked = plan_drift("p", POLICY, None, [_obs("Drifted")], [busy], monitor_ok=True, now=T0)
    assert blocked.retrain is None and "allowConcurrentRuns" in blocked.waiting


def test_deployment_conditions_for_the_modeldeployment_handler():
    from mlops_operator.decisions.drift_policy import deployment_conditions

    report = {"predictors": {"stable": {"modelVersion": "v1", "input": {"verdict": "Drifted", "reason": "1 of 5",
                                                                        "features": [F3]}}}}
    conds = deployment_conditions(report, "dep", "stable")
    assert conds["Drifted"][:2] == ("True", "DriftDetected") and "f3" in conds["Drifted"][2]
    assert conds["DataQuality"][0] == "True"
    assert deployment_conditions(None, "dep", "stable")["Drifted"][1] == "MonitorUnavailable"


def test_staleness_records_when_live_quality_first_fails_the_minimum():
    from mlops_operator.api.mlproject import SuccessMetric
    from mlops_operator.decisions.drift_policy import live_metric

    accuracy = SuccessMetric(name="accuracy", minimum=0.8)
    assert live_metric(accuracy, {"correct": 30, "incorrect": 10}) is None  # too few labelled rows
    assert live_metric(accuracy, {"correct": 60, "incorrect": 40}) == 0.6
    assert live_metric(SuccessMetric(name="rmse"), {"rows": 100, "squaredErrorSum": 400.0}) == 2.0
    assert live_metric(SuccessMetric(name="roc_auc"), {"rows": 100, "correct": 90}) is None
    promoted = to_rfc3339(T0 - 600)
    plan = plan_drift("p", POLICY, None, [_obs("NoDrift")], [], monitor_ok=True, now=T0, promoted_at=promoted,
                      metric=accuracy, live={"v1": 0.6})
    entry = plan.status["staleness"][0]
    assert entry["secondsToQualityBelowMinimum"] == 600.0 and entry["liveMetric"] == {"accuracy": 0.6}
    assert [e[1] for e in plan.events] == ["LiveQualityBelowMinimum"]
    again = plan_drift("p", POLICY, plan.status, [_obs("NoDrift")], [], monitor_ok=True, now=T0 + 60,
                       promoted_at=promoted, metric=accuracy, live={"v1": 0.5})
    assert again.status["staleness"] == plan.status["staleness"] and not again.events
    fine = plan_drift("p", POLICY, None, [_obs("NoDrift")], [], monitor_ok=True, now=T0, promoted_at=promoted,
                      metric=accuracy, live={"v1": 0.9})
    assert "staleness" not in fine.status
