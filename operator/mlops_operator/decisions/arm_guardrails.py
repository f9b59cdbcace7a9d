"""Guardrails of each challenger of an A/B/n test, checked like a canary's.

A challenger serves real clients, so the error-rate and p95-latency limits of
strategy.analysis apply to it as they do to a canary: once per analysis interval each running
challenger's measurements since the test started are assessed (`analysis.assess`); a failed check
counts, a passed one resets the count, too few requests count nothing; `failureLimit` failed checks
in a row and the challenger loses: its traffic goes back to stable. Stable is not judged here: it
serves whatever the outcome.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..api.modeldeployment import AnalysisLimits, ArmMetrics
from .analysis import Verdict, assess


@dataclass(frozen=True)
class ArmCheck:
    verdict: Verdict
    failed_checks: int  # failed checks in a row, this one included
    lost: bool
    reason: str  # the numbers: error rate over requests, or p95 latency, against the limit


def check_challengers(
    metrics: Mapping[str, ArmMetrics | None], limits: AnalysisLimits, failed: Mapping[str, int] | None = None,
) -> dict[str, ArmCheck]:
    """One guardrail check of each challenger in `metrics` (name -> measurements since the test started).

    `failed`: each challenger's failed checks in a row before this one.
    """
    failed = failed or {}
    out = {}
    for name, arm in metrics.items():
        result = assess(arm, limits)
        count = failed.get(name, 0)
        if result.verdict == "Failure":
            count += 1
        elif result.verdict == "Success":
            count = 0
        lost = result.verdict == "Failure" and count >= limits.failure_limit
        reason = (f"guardrail check {count} of {limits.failure_limit} failed: {result.reason}"
                  if result.verdict == "Failure" else result.reason)
        out[name] = ArmCheck(result.verdict, count, lost, reason)
    return out
