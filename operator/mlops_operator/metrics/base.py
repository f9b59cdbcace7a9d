"""The one question the rollout asks about serving: how did this predictor do since a moment?"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from mlops_operator.api.modeldeployment import ArmMetrics


@runtime_checkable
class MetricsProvider(Protocol):
    """Counts for one predictor of one SeldonDeployment.

    `since` is a Unix timestamp (time.time()), typically the start of the current rollout
    step; None means everything the source has. A provider keeps or derives the baseline at
    `since` itself, so callers just ask again at every check.
    """

    async def arm_metrics(self, namespace: str, deployment: str, predictor: str, since: float | None) -> ArmMetrics:
        ...

    async def recorded(self, namespace: str, deployment: str, predictor: str) -> tuple[int, int] | None:
        """(records, labelled) the monitor counted for the predictor, or None where its series are not seen."""
        ...

    async def close(self) -> None:
        """Release HTTP sessions; called once when the operator stops (kopf cleanup)."""
        ...


def arm_metrics_from_counts(requests: float, errors: float, p95_seconds: float | None,
                            mirrored: float | None) -> ArmMetrics:
    """ArmMetrics from (possibly fractional, e.g. PromQL increase) counts."""
    req = max(0, int(round(requests)))
    err = min(req, max(0, int(round(errors))))
    return ArmMetrics(
        requests=req,
        errors=err,
        error_rate=(err / req) if req else None,
        latency_p95_ms=None if p95_seconds is None else round(p95_seconds * 1000.0, 3),
        mirrored=None if mirrored is None else max(0, int(round(mirrored))),
    )
