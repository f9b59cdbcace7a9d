"""logLoss and rmse releases: the monitor's sums reach the always-valid test and decide."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_operator.api.modeldeployment import ArmMetrics, ModelDeploymentSpec, ModelDeploymentStatus
from mlops_operator.decisions.analysis import arm_sample
from mlops_operator.decisions.rollout import Observation, advance, served_model
from mlops_operator.decisions.sequential import ArmSample, intervals, samples_needed, tuned_rho, verdicts
from tests.decisions.traffic import first, labelled

V1 = served_model("tr:v1", "file:///m/v1", "v1")
V2 = served_model("tr:v2", "file:///m/v2", "v2")
HEALTHY = ArmMetrics(requests=100, errors=0, error_rate=0.0, latency_p95_ms=20)


def spec(metric: str, min_effect: float) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate({"model": {"trainingRun": "v2"}, "strategy": {
        "type": "canary", "canary": {"steps": [20, 100], "interval": "60s"},
        "analysis": {"minRequests": 20, "quality": {"metric": metric, "minEffect": min_effect, "minSamples": 100}}}})


def obs(now: float, monitor: dict | None) -> Observation:
    return Observation(now=now, ready=frozenset({V1.predictor, V2.predictor}), candidate=HEALTHY, monitor=monitor)


def serving() -> ModelDeploymentStatus:
    return advance(spec("logLoss", 0.1), ModelDeploymentStatus(), V1, Observation(now=0, ready=frozenset({V1.predictor}))).status


def classifier_entry(p_true: np.ndarray) -> dict:
    """A /summary entry as the monitor reports it for rows whose true class got probability p_true."""
    loss = -np.log(np.clip(p_true, 1e-15, 1))
    correct = int((p_true > 0.5).sum())
    return {"rows": len(p_true), "correct": correct, "incorrect": len(p_true) - correct,
            "logLossRows": len(p_true), "logLossSum": float(loss.sum()), "logLossSquaredSum": float((loss ** 2).sum())}


def monitor(stable: dict, candidate: dict) -> dict:
    return {"predictors": {V1.predictor: stable, V2.predictor: candidate}}


def test_log_loss_decides_a_canary_worse_rolled_back_equal_promoted():
    rng = np.random.default_rng(5)
    good = lambda n: rng.beta(8, 2, size=n)  # noqa: E731  mean log loss ≈ 0.24
    poor = lambda n: rng.beta(4, 4, size=n)  # noqa: E731  ≈ 0.78
    s = spec("logLoss", 0.1)
    plan = advance(s, serving(), V2, obs(0, monitor(classifier_entry(good(0)), classifier_entry(good(0)))))
    plan = advance(s, plan.status, V2, obs(10, monitor(classifier_entry(good(400)), classifier_entry(poor(400)))))
    assert plan.status.phase == "RolledBack" and plan.status.analysis.verdict == "worse"
    assert plan.status.analysis.metric == "logLoss" and plan.status.analysis.interval[0] > 0  # higher loss: worse
    assert "log_loss candidate 0.7" in plan.events[-1].message and "lower is better" in plan.events[-1].message
    assert plan.events[-1].cause == "quality"  # counted by mlops_modeldeployment_quality_rollbacks_total

    plan = advance(s, serving(), V2, obs(0, monitor(classifier_entry(good(0)), classifier_entry(good(0)))))
    equal = monitor(classifier_entry(good(600)), classifier_entry(good(600)))
    plan = advance(s, plan.status, V2, obs(61, equal))
    assert plan.status.analysis.verdict in ("non-inferior", "better") and plan.status.step == 1
    plan = advance(s, plan.status, V2, obs(122, equal))
    assert plan.status.stable == V2 and plan.promoted == V2


def test_log_loss_without_probabilities_waits_and_says_why():
    s = spec("logLoss", 0.1)
    without = {"rows": 300, "correct": 250, "incorrect": 50, "logLossRows": 0, "logLossSum": 0.0, "logLossSquaredSum": 0.0}
    plan = advance(s, serving(), V2, obs(0, monitor(without, without)))
    plan = advance(s, plan.status, V2, obs(61, monitor(without, without)))
    assert plan.status.candidate == V2 and plan.status.last_decision.action == "WaitingForData"
    assert "no class probabilities" in plan.status.last_decision.reason and "predict_proba" in plan.status.analysis.reason
    old = {"rows": 300, "correct": 250, "incorrect": 50}  # a monitor from before log loss sums
    assert "logLossSum" in arm_sample(old, "log_loss")[1]


def regression_entry(errors: np.ndarray) -> dict:
    return {"rows": len(errors), "incorrect": 0, "absErrorSum": float(np.abs(errors).sum()),
            "squaredErrorSum": float((errors ** 2).sum()), "quarticErrorSum": float((errors ** 4).sum())}


def test_rmse_is_tested_on_the_squared_errors_with_their_exact_variance():
    errors = np.random.default_rng(3).standard_t(5, size=500)
    sample, why = arm_sample(regression_entry(errors), "rmse")
    exact = ArmSample.of_values(errors ** 2)
    assert not why and sample.n == exact.n
    assert sample.total == pytest.approx(exact.total) and sample.total_sq == pytest.approx(exact.total_sq)
    mae, _ = arm_sample(regression_entry(errors), "mae")
    assert mae.total_sq == pytest.approx(float((errors ** 2).sum()))
    assert "quarticErrorSum" in arm_sample({"rows": 10, "squaredErrorSum": 4.0}, "rmse")[1]


def test_rmse_canary_with_heavy_tailed_errors_keeps_alpha_which_the_normal_approximation_did_not():
    """Equal arms, Student-t errors (df 5: E e⁴ = 3·σ⁴·(df−2)/(df−4), three times the normal's):
    checked at every interval, "worse" must stay at most alpha with Σe⁴, while 3(Σe²)²/n (the
    approximation this replaced) underestimates the variance and rolls back far more often."""
    alpha, power, effect, runs, looks, df = 0.05, 0.8, 0.3, 4000, 30, 5
    rng = np.random.default_rng(21)
    var_sq = 3 * (df / (df - 2)) ** 2 * (df - 2) / (df - 4) - (df / (df - 2)) ** 2  # Var(e²)
    per_arm = samples_needed(effect, variance=var_sq, alpha=alpha, power=power)[0] / looks
    rho = tuned_rho(effect, alpha, power)
    rolled = {"exact": np.zeros(runs, dtype=bool), "normal": np.zeros(runs, dtype=bool)}
    for chunk in np.array_split(np.arange(runs), 20):
        arms = []
        for _ in range(2):
            n = labelled(rng, runs=chunk.size, looks=looks, requests=per_arm, p=0.5, delay=0.0).n
            sq = rng.standard_t(df, size=(chunk.size, int(n.max()) + 1)) ** 2
            cum = lambda v: np.concatenate([np.zeros((chunk.size, 1)), np.cumsum(v, axis=1)], axis=1)  # noqa: E731
            rows = np.arange(chunk.size)[:, None]
            total, quartic = cum(sq)[rows, n], cum(sq ** 2)[rows, n]
            arms.append((n, total, quartic, 3 * total ** 2 / np.maximum(n, 1)))
        (ns, ts, qs, as_), (nc, tc, qc, ac) = arms
        enough = (ns >= 100) & (nc >= 100)
        for name, (sq_s, sq_c) in (("exact", (qs, qc)), ("normal", (as_, ac))):
            _, lo, hi = intervals(ns, ts, sq_s, nc, tc, sq_c, bernoulli=False, alpha=alpha, rho=rho)
            codes = verdicts(lo, hi, higher_is_better=False, min_effect=effect)
            rolled[name][chunk] = first(enough & (codes == "worse")) >= 0
    margin = 3 * math.sqrt(alpha * (1 - alpha) / runs)
    assert rolled["exact"].mean() <= alpha + margin
    assert rolled["normal"].mean() > rolled["exact"].mean() + margin
