"""Table tests of the pure champion gate (mlops_operator.decisions.champion)."""
import ast
from pathlib import Path

import pytest

from mlops_operator.api.mlproject import ChampionPolicy, SuccessMetric
from mlops_operator.decisions import champion
from mlops_operator.decisions.champion import compare, percentile_interval

AUC = SuccessMetric(name="roc_auc", minimum=0.9)
RMSE = SuccessMetric(name="rmse", minimum=5.0)
NO_MIN = SuccessMetric(name="accuracy")
LENIENT = ChampionPolicy()
STRICT = ChampionPolicy(min_improvement=0.01)
SIGNIFICANT = ChampionPolicy(require_significance=True)

# (metric, policy, candidate, champion value, paired diffs, expected decision, words in reason)
CASES = [
    (AUC, LENIENT, 0.95, None, None, "Blessed", "no champion"),
    (AUC, LENIENT, 0.85, None, None, "Rejected", "minimum"),
    (AUC, LENIENT, 0.90, None, None, "Blessed", "passes"),  # the minimum itself passes
    (NO_MIN, LENIENT, 0.10, None, None, "Blessed", "no champion"),
    (AUC, LENIENT, 0.85, 0.80, None, "Rejected", "minimum"),  # better than champion, still below minimum
    (AUC, LENIENT, 0.95, 0.94, None, "Blessed", "improvement"),
    (AUC, LENIENT, 0.93, 0.94, None, "Rejected", "below the required"),
    (AUC, LENIENT, 0.94, 0.94, None, "Blessed", "improvement"),  # a tie is not worse
    (AUC, STRICT, 0.945, 0.94, None, "Rejected", "below the required 0.01"),
    (AUC, STRICT, 0.951, 0.94, None, "Blessed", "improvement"),
    (RMSE, LENIENT, 6.0, None, None, "Rejected", "at most 5"),
    (RMSE, LENIENT, 4.0, None, None, "Blessed", "no champion"),
    (RMSE, LENIENT, 3.0, 3.5, None, "Blessed", "improvement 0.5"),  # lower is better
    (RMSE, LENIENT, 3.5, 3.0, None, "Rejected", "below the required"),
    (RMSE, ChampionPolicy(min_improvement=1.0), 3.0, 3.5, None, "Rejected", "below the required 1"),
    (AUC, SIGNIFICANT, 0.96, 0.94, [0.01, 0.02, 0.03, 0.025, 0.015], "Blessed", "improvement"),
    (AUC, SIGNIFICANT, 0.96, 0.94, [-0.01, 0.02, 0.03, 0.025, 0.015], "Rejected", "not significant"),
    (AUC, SIGNIFICANT, 0.96, 0.94, None, "Rejected", "no paired bootstrap"),
    (RMSE, SIGNIFICANT, 3.0, 3.5, [-0.6, -0.4, -0.5, -0.3], "Blessed", "improvement"),  # diffs < 0 are gains
    (RMSE, SIGNIFICANT, 3.0, 3.5, [-0.6, 0.1, -0.5, -0.3], "Rejected", "not significant"),
    (AUC, SIGNIFICANT, 0.95, None, None, "Blessed", "no champion"),  # significance needs a champion
]


@pytest.mark.parametrize("metric,policy,candidate,champion_value,diffs,decision,words", CASES)
def test_gate_table(metric, policy, candidate, champion_value, diffs, decision, words):
    verdict = compare(metric, policy, candidate, champion_value, diffs, champion="tr-old" if champion_value else None)
    assert verdict.decision == decision, verdict.reason
    assert words in verdict.reason
    assert verdict.metric == metric.name
    assert verdict.candidate_value == candidate
    assert verdict.champion_value == champion_value
    assert verdict.minimum == metric.minimum


def test_interval_of_paired_differences_is_reported():
    diffs = [i / 100 for i in range(101)]  # 0.00 .. 1.00
    verdict = compare(AUC, LENIENT, 0.95, 0.94, diffs, champion="tr-old")
    assert verdict.difference_lower == pytest.approx(0.025)
    assert verdict.difference_upper == pytest.approx(0.975)
    assert verdict.champion == "tr-old"
    assert verdict.wire()["championValue"] == 0.94


def test_percentile_interval_matches_numpy():
    numpy = pytest.importorskip("numpy")
    values = [3.1, -2.0, 0.5, 7.25, 1.0, 1.5, -0.25]
    low, high = percentile_interval(values)
    assert (low, high) == pytest.approx(tuple(numpy.percentile(values, [2.5, 97.5])))
    with pytest.raises(ValueError, match="at least one"):
        percentile_interval([])


def test_gate_module_is_pure():
    tree = ast.parse(Path(champion.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"kopf", "kubernetes", "aiohttp", "requests", "urllib", "http", "kfp"}
