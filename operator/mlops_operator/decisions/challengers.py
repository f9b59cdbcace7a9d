"""A/B/n: several challengers against stable, with the family-wise error held at alpha.

Every claim the decision can make is a statement about one pair of arms (a challenger worse than
stable, better than stable, better than another challenger). With k challengers there are
m = (k + 1) k / 2 pairs; each pair's confidence sequence runs at alpha / m (Bonferroni). Each
sequence is valid at all looks at once, so the chance that ANY of them ever misses its true
difference — and hence that any loser is stopped wrongly or any winner named wrongly — is at most
m · alpha / m = alpha, whatever the correlation between pairs sharing stable. Simple, valid,
slightly conservative; with two or three challengers the price is small (alpha/3 or alpha/6).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from .sequential import ArmSample, Comparison, compare

Outcome = Literal["winner", "keep-stable", "continue"]


@dataclass(frozen=True)
class Challenger:
    """One challenger's state: its comparison with stable and whether it is stopped (a loser)."""

    name: str
    comparison: Comparison
    stopped: bool


@dataclass(frozen=True)
class Tournament:
    outcome: Outcome
    winner: str | None
    challengers: tuple[Challenger, ...]
    alpha_per_pair: float
    reason: str


def decide(
    stable: ArmSample,
    challengers: Mapping[str, ArmSample],
    *,
    metric: str,
    higher_is_better: bool | None = None,
    min_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    min_samples: int = 100,
    stopped: Collection[str] = (),
    expired: bool = False,
) -> Tournament:
    """Stop losers, name a winner, or keep stable.

    A challenger is stopped when it is worse than stable with confidence (pass the names stopped
    earlier in `stopped`: stopping is final, its traffic is gone). The winner is a running challenger
    better than stable and better than every other running challenger with confidence (a stopped one
    is already below stable). With no winner: "keep-stable" when all are stopped or `expired`
    (maxDuration reached), else "continue".
    """
    if not challengers:
        raise ValueError("challengers: need at least one")
    unknown = set(stopped) - set(challengers)
    if unknown:
        raise ValueError(f"stopped: unknown challengers {sorted(unknown)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: must be within (0, 1), got {alpha!r}")
    k = len(challengers)
    per_pair = alpha / (k * (k + 1) / 2)
    options = dict(metric=metric, higher_is_better=higher_is_better, min_effect=min_effect,
                   alpha=per_pair, power=power, min_samples=min_samples)
    arms = tuple(
        Challenger(name, cmp, name in stopped or cmp.verdict == "worse")
        for name, cmp in ((name, compare(stable, sample, **options)) for name, sample in challengers.items())
    )
    running = [a for a in arms if not a.stopped]
    winners = [
        a for a in running
        if a.comparison.verdict == "better" and all(
            compare(challengers[b.name], challengers[a.name], **options).verdict == "better"
            for b in running if b is not a
        )
    ]
    level = f"alpha {alpha:g} split over {k * (k + 1) // 2} pairs ({per_pair:.3g} each)"
    if winners:
        best = winners[0]
        return Tournament("winner", best.name, arms, per_pair,
                          f"{best.name} is better than stable and every running challenger ({level}): {best.comparison.reason}")
    if not running:
        return Tournament("keep-stable", None, arms, per_pair,
                          f"every challenger is stopped: worse than stable ({level}) or out of its guardrails")
    if expired:
        return Tournament("keep-stable", None, arms, per_pair,
                          f"maxDuration reached with no challenger better than stable and the others ({level})")
    waiting = "; ".join(f"{a.name}: {a.comparison.verdict}" for a in running)
    return Tournament("continue", None, arms, per_pair, f"no winner yet ({level}); {waiting}")
