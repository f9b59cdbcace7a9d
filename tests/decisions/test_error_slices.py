"""Where the served models fail most: the pure ranking behind MLProject status.drift.errorSlices."""
from __future__ import annotations

from mlops_operator.decisions import drift_policy


def report(overall: float, *slices: tuple[str, str, int, float], uri: str = "file:///m/v1") -> dict:
    return {"predictors": {"main": {"modelUri": uri, "rows": 500, "error": overall, "measure": "error rate",
                                    "slices": [{"feature": f, "bin": b, "rows": r, "error": e} for f, b, r, e in slices]}}}


def test_slices_are_ranked_by_excess_over_their_predictors_error_across_deployments():
    reports = {
        "a": report(0.10, ("x1", "(1.5, +inf]", 40, 0.60), ("x0", "(-0.1, 0.1]", 30, 0.15)),
        "b": report(0.40, ("x1", "(1.5, +inf]", 50, 0.70), ("x3", "(0, 1]", 80, 0.30)),
        "c": None,  # the monitor could not be asked about this one
    }
    worst = drift_policy.worst_slices(reports, top=5)
    assert [(s["deployment"], s["feature"]) for s in worst] == [("a", "x1"), ("b", "x1"), ("a", "x0")]
    assert worst[0] == {"deployment": "a", "predictor": "main", "modelUri": "file:///m/v1", "feature": "x1",
                        "bin": "(1.5, +inf]", "rows": 40, "error": 0.60, "overall": 0.10, "measure": "error rate"}
    assert all(s["error"] > s["overall"] for s in worst)  # x3 in b is better than b overall: not a failure slice


def test_top_limits_and_nothing_labelled_gives_nothing():
    many = report(0.1, *[(f"x{i}", "(0, 1]", 20 + i, 0.2 + i / 100) for i in range(9)])
    assert len(drift_policy.worst_slices({"a": many}, top=3)) == 3
    assert drift_policy.worst_slices({"a": {"predictors": {"main": {"error": None, "slices": []}}}}) == []
    assert drift_policy.worst_slices({}) == []


def test_refresh_is_due_once_a_minute():
    assert drift_policy.slices_due({}, 1000.0)
    assert not drift_policy.slices_due({"errorSlicesAt": 990.0}, 1000.0)
    assert drift_policy.slices_due({"errorSlicesAt": 1000.0 - drift_policy.SLICES_REFRESH_SECONDS}, 1000.0)
