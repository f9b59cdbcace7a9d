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
