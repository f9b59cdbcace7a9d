"""Challengers from a project's history: its last N Blessed model versions challenge the champion.

A retrained champion is not always better than the versions before it (a bad data week, a drifted
label). `spec.challengers: [{name, fromProject: {lastBlessed: N}, weight}]` puts the project's
previous Blessed versions back on live traffic beside stable, decided by the same A/B/n test as
named challengers. Pure: the handler passes the project's TrainingRuns from its index.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from ..api.modeldeployment import ChallengerSpec, ModelSource
from .project import RunSummary


def _time(text: str | None) -> float:
    """Seconds of an RFC 3339 timestamp (any offset or fraction); 0 when absent or unreadable."""
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def last_blessed(runs: Iterable[RunSummary], n: int, exclude: Collection[str] = ()) -> list[RunSummary]:
    """The newest `n` Blessed runs with a model, newest first, leaving out the names in `exclude`.

    Newest is by when the run finished (its blessing), then by creation, then by name, so the order
    is the same on every reconcile.
    """
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    blessed = {r.name: r for r in runs if r.phase == "Blessed" and r.model_uri and r.name not in exclude}
    ordered = sorted(blessed.values(), key=lambda r: (_time(r.completed or r.created), _time(r.created), r.name),
                     reverse=True)
    return ordered[:n]


def expand(challengers: Sequence[ChallengerSpec], runs: Iterable[RunSummary], stable_run: str | None) -> list[ChallengerSpec]:
    """spec.challengers with each fromProject entry replaced by one challenger per resolved version.

    Left out: the run serving as stable (`stable_run`) and runs already named by another challenger,
    so no version is served twice. Arms are named <name>-1 (newest) to <name>-N; with fewer Blessed
    versions than N there are fewer arms (none at all for a project with only its champion).
    """
    runs = list(runs)
    named = {c.model.training_run for c in challengers if c.model is not None and c.model.training_run}
    exclude = named | ({stable_run} if stable_run else set())
    out: list[ChallengerSpec] = []
    for c in challengers:
        if c.from_project is None:
            out.append(c)
            continue
        chosen = last_blessed(runs, c.from_project.last_blessed, exclude)
        for name, run in zip(c.arm_names(), chosen):
            out.append(ChallengerSpec(name=name, model=ModelSource(training_run=run.name), weight=c.weight))
        exclude |= {r.name for r in chosen}
    return out
