"""Assess one arm's measurements against the analysis limits (like Argo Rollouts' assessMetricStatus)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..api.modeldeployment import AnalysisLimits, ArmMetrics

Verdict = Literal["Success", "Failure", "Inconclusive"]


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reason: str


def assess(metrics: ArmMetrics | None, limits: AnalysisLimits, *, count_mirrored: bool = False) -> Assessment:
    """Success when enough requests were seen and errors and latency are within the limits.

    A failure is decided as soon as the error budget is blown, even before `minRequests` is reached:
    once errors exceed maxErrorRate * minRequests, no further traffic can bring the rate under the limit
    at the minimum sample, and waiting would only expose more clients.
    """
    if metrics is None:
        return Assessment("Inconclusive", "no measurements yet")
    seen = (metrics.mirrored or 0) if count_mirrored else metrics.requests
    errors = metrics.errors
    budget = limits.max_error_rate * max(limits.min_requests, seen)
    if seen and errors > budget:
        rate = errors / seen
        return Assessment(
            "Failure", f"error rate {rate:.1%} over {seen} requests exceeds {limits.max_error_rate:.1%}"
        )
    if seen < limits.min_requests:
        return Assessment("Inconclusive", f"{seen} of {limits.min_requests} requests needed for analysis")
    if metrics.latency_p95_ms is not None and metrics.latency_p95_ms > limits.max_latency_ms:
        return Assessment(
            "Failure", f"p95 latency {metrics.latency_p95_ms:.0f}ms exceeds {limits.max_latency_ms:.0f}ms"
        )
    rate = errors / seen if seen else 0.0
    return Assessment("Success", f"error rate {rate:.1%} over {seen} requests within limits")


# --- quality from the monitor's /summary (pure: dicts in, samples out) ---------------------------

from collections.abc import Mapping, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from .sequential import ArmSample  # noqa: E402


def arm_sample(entry: Mapping[str, Any] | None, metric: str) -> tuple[ArmSample | None, str]:
    """Sums of one predictor's per-request metric values from its /summary entry, or None and why.

    Classification counts are per labelled row (correct/incorrect). `log_loss` is per labelled row
    whose answer had class probabilities (`logLossRows`, `logLossSum`, `logLossSquaredSum`). `mae`
    uses |e| with Σe² as its sum of squares; `rmse` is tested on the squared error per row, with Σe⁴
    (`quarticErrorSum`) as its sum of squares.
    """
    if not entry:
        return ArmSample(0, 0.0, 0.0), ""
    correct, incorrect = int(entry.get("correct") or 0), int(entry.get("incorrect") or 0)
    if metric in ("accuracy", "error_rate"):
        n = correct + incorrect
        return ArmSample.of_counts(n, correct if metric == "accuracy" else incorrect), ""
    if metric == "log_loss":
        if "logLossSum" not in entry:
            return None, "the monitor does not report log loss sums (logLossSum): upgrade it"
        n = int(entry.get("logLossRows") or 0)
        if n == 0 and correct + incorrect > 0:
            return None, ("labelled answers carry no class probabilities: ask the model for its "
                          "predict_proba output too (V2 request outputs)")
        return ArmSample(n, float(entry["logLossSum"]), float(entry.get("logLossSquaredSum") or 0.0)), ""
    n = max(0, int(entry.get("rows") or 0) - incorrect)  # regression: incorrect counts unparseable rows
    abs_sum, sq_sum = float(entry.get("absErrorSum") or 0.0), float(entry.get("squaredErrorSum") or 0.0)
    if metric == "mae":
        return ArmSample(n, abs_sum, max(sq_sum, abs_sum * abs_sum / n if n else 0.0)), ""
    if metric == "rmse":
        if "quarticErrorSum" not in entry and n:
            return None, "the monitor does not report Σe⁴ (quarticErrorSum): upgrade it"
        return ArmSample(n, sq_sum, max(float(entry.get("quarticErrorSum") or 0.0), sq_sum * sq_sum / n if n else 0.0)), ""
    return None, f"unknown metric {metric!r}"


def since_baseline(sample: ArmSample, baseline: Mapping[str, float] | None) -> ArmSample:
    """What an arm added since `baseline` (its sums at the release start); counters only grow."""
    if not baseline:
        return sample
    n = sample.n - int(baseline.get("n", 0))
    total = sample.total - float(baseline.get("total", 0.0))
    total_sq = sample.total_sq - float(baseline.get("totalSq", 0.0))
    if n < 0 or total_sq < 0:  # the monitor lost history (retention): start over from what it has
        return sample
    total_sq = max(total_sq, total * total / n if n else 0.0)
    return ArmSample(n, total if n else 0.0, total_sq if n else 0.0)


def baseline_of(sample: ArmSample | None) -> dict[str, float] | None:
    return None if sample is None else {"n": sample.n, "total": sample.total, "totalSq": sample.total_sq}


def shadow_answers(pairs: Sequence[Mapping[str, Any]], stable: str, shadow: str) -> tuple[list, list]:
    """Stable's and the shadow's answers, row by row, of the requests both answered (by request id)."""
    a: list = []
    b: list = []
    for item in pairs:
        first = item.get("stable") or {}
        if first.get("predictor") != stable:
            continue
        mirrored = next((s for s in item.get("shadow") or [] if s.get("predictor") == shadow), None)
        if mirrored is None:
            continue
        left, right = first.get("predictions"), mirrored.get("predictions")
        if not isinstance(left, list) or not isinstance(right, list) or len(left) != len(right):
            continue
        a.extend(left)
        b.extend(right)
    return a, b


def numeric(values: Sequence[Any]) -> list[float] | None:
    """The values as floats when all are numbers (classes 0/1, scores), else None."""
    try:
        out = [float(v) for v in values if not isinstance(v, bool)]
    except (TypeError, ValueError):
        return None
    return out if len(out) == len(values) else None
