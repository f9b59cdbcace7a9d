"""Quantiles from Prometheus cumulative histogram buckets, the way histogram_quantile() does it."""
from __future__ import annotations

import math
from typing import Mapping


def quantile_from_buckets(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile (0..1) of observations counted in cumulative buckets {upper bound: count}.

    Linear interpolation inside the bucket holding the rank; an answer in the +Inf bucket is
    the largest finite bound (Prometheus does the same). None when nothing was observed.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q: {q} is outside 0..1")
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        raise ValueError("buckets: a +Inf bucket is required")
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return bounds[-2] if len(bounds) > 1 else None
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return bounds[-2] if len(bounds) > 1 else None  # pragma: no cover - rank <= total always hits above
