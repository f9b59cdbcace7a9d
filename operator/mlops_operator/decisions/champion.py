"""The champion gate: does a challenger beat the project minimum and the current champion?

Pure: numbers in, verdict out. The training pipeline computes the numbers on the held-out rows
(challenger and champion scored on the SAME rows, paired bootstrap of their difference) and calls
`compare`; tests table-drive it.
"""
from __future__ import annotations

from collections.abc import Sequence

from mlops_operator.api.mlproject import ChampionPolicy, SuccessMetric
from mlops_operator.api.trainingrun import Comparison

#: Share of the paired bootstrap distribution cut from each tail: a 95% interval.
INTERVAL_TAIL = 0.025


def percentile_interval(samples: Sequence[float], tail: float = INTERVAL_TAIL) -> tuple[float, float]:
    """Percentile interval of bootstrap samples (linear interpolation, like numpy's default)."""
    values = sorted(float(s) for s in samples)
    if not values:
        raise ValueError("bootstrap samples: need at least one value")

    def at(q: float) -> float:
        pos = q * (len(values) - 1)
        low = int(pos)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (pos - low)

    return at(tail), at(1.0 - tail)


def improvement(metric: SuccessMetric, candidate_value: float, champion_value: float) -> float:
    """How much better the candidate is, positive when better whatever the metric's direction."""
    diff = candidate_value - champion_value
    return -diff if metric.lower_is_better() else diff


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def compare(
    metric: SuccessMetric,
    policy: ChampionPolicy,
    candidate_value: float,
    champion_value: float | None = None,
    paired_differences: Sequence[float] | None = None,
    champion: str | None = None,
) -> Comparison:
    """Bless or reject a challenger.

    Rules, in order: the candidate must pass the project minimum; with no champion that suffices.
    With a champion it must improve on it by at least `policy.min_improvement` (ties pass when that
    is 0: not worse is enough); with `require_significance` the 95% paired bootstrap interval of the
    improvement must also lie above zero. `paired_differences` are candidate-minus-champion values
    from bootstrap resamples of the same rows.
    """
    interval = percentile_interval(paired_differences) if paired_differences else (None, None)
    base = dict(
        metric=metric.name,
        candidate_value=candidate_value,
        minimum=metric.minimum,
        champion=champion,
        champion_value=champion_value,
        difference_lower=interval[0],
        difference_upper=interval[1],
    )
    direction = "at most" if metric.lower_is_better() else "at least"
    if not metric.passes(candidate_value):
        return Comparison(
            decision="Rejected",
            reason=f"{metric.name} {_fmt(candidate_value)} misses the minimum: must be {direction} {_fmt(metric.minimum)}",
            **base,
        )
    if champion_value is None:
        suffix = f" (minimum {_fmt(metric.minimum)})" if metric.minimum is not None else ""
        return Comparison(
            decision="Blessed", reason=f"{metric.name} {_fmt(candidate_value)} passes{suffix}; no champion to beat", **base
        )
    gain = improvement(metric, candidate_value, champion_value)
    versus = f"{metric.name} {_fmt(candidate_value)} vs champion {_fmt(champion_value)}"
    if gain < policy.min_improvement:
        return Comparison(
            decision="Rejected",
            reason=f"{versus}: improvement {_fmt(gain)} is below the required {_fmt(policy.min_improvement)}",
            **base,
        )
    if policy.require_significance:
        if interval[0] is None:
            return Comparison(
                decision="Rejected", reason=f"{versus}: significance required but no paired bootstrap", **base
            )
        gain_low = -interval[1] if metric.lower_is_better() else interval[0]
        if gain_low <= 0:
            return Comparison(
                decision="Rejected",
                reason=(
                    f"{versus}: improvement not significant, the 95% interval of the difference "
                    f"[{_fmt(interval[0])}, {_fmt(interval[1])}] does not exclude zero"
                ),
                **base,
            )
    return Comparison(decision="Blessed", reason=f"{versus}: improvement {_fmt(gain)} is enough", **base)
