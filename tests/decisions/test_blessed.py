"""A champion challenged by its project's last N Blessed versions: which runs become arms, then the A/B/n test."""
from __future__ import annotations

import pytest

from mlops_operator.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from mlops_operator.decisions.blessed import expand, last_blessed
from mlops_operator.decisions.project import RunSummary
from mlops_operator.decisions.rollout import Observation, advance, served_model


def run(name: str, completed: str | None, phase: str = "Blessed", created: str = "2026-01-01T00:00:00Z") -> RunSummary:
    return RunSummary(name=name, phase=phase, dataset_version="v", trigger="manual", created=created,
                      completed=completed, model_uri=f"file:///m/{name}" if phase == "Blessed" else None)


RUNS = [
    run("r1", "2026-01-01T10:00:00Z"),
    run("r4", "2026-01-04T10:00:00Z"),
    run("r2", "2026-01-02T10:00:00Z"),
    run("failed", "2026-01-05T10:00:00Z", phase="Failed"),
    run("rejected", "2026-01-06T10:00:00Z", phase="Rejected"),
    run("r3", "2026-01-03T10:00:00.5+00:00"),  # another timestamp spelling still orders by time
    run("running", None, phase="Running", created="2026-01-07T00:00:00Z"),
]


def test_last_blessed_is_newest_first_without_the_stable_one_nor_unblessed_runs():
    assert [r.name for r in last_blessed(RUNS, 2, exclude={"r4"})] == ["r3", "r2"]
    assert [r.name for r in last_blessed(RUNS, 10)] == ["r4", "r3", "r2", "r1"]
    assert last_blessed(RUNS, 0) == []
    assert last_blessed(list(reversed(RUNS)), 3) == last_blessed(RUNS, 3)  # the index's order does not matter
    no_model = RunSummary(name="x", phase="Blessed", dataset_version="v", trigger="manual", completed="2027-01-01T00:00:00Z")
    assert "x" not in [r.name for r in last_blessed([*RUNS, no_model], 10)]


def spec(challengers: list[dict], project: bool = True) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate({
        "model": {"trainingRun": "r4"}, **({"projectRef": {"name": "churn"}} if project else {}),
        "strategy": {"analysis": {"quality": {"metric": "accuracy", "minEffect": 0.1}}}, "challengers": challengers})


def test_from_project_expands_into_one_arm_per_version_and_skips_named_ones():
    s = spec([{"name": "past", "fromProject": {"lastBlessed": 2}, "weight": 20},
              {"name": "pinned", "model": {"trainingRun": "r3"}, "weight": 10}])
    arms = expand(s.challengers, RUNS, stable_run="r4")
    assert [(a.name, a.model.training_run, a.weight) for a in arms] == [
        ("past-1", "r2", 20), ("past-2", "r1", 20), ("pinned", "r3", 10)]
    # fewer Blessed versions than asked: fewer arms; only the champion: none
    assert [a.name for a in expand(s.challengers[:1], RUNS[:2], stable_run="r4")] == ["past-1"]
    assert expand(s.challengers[:1], [run("r4", "2026-01-04T10:00:00Z")], stable_run="r4") == []


def test_from_project_spec_rules_name_the_field():
    with pytest.raises(ValueError, match="exactly one of model and fromProject"):
        spec([{"name": "a", "weight": 10}])
    with pytest.raises(ValueError, match="projectRef"):
        spec([{"name": "a", "fromProject": {"lastBlessed": 2}, "weight": 10}], project=False)
    with pytest.raises(ValueError, match="weight × lastBlessed"):
        spec([{"name": "a", "fromProject": {"lastBlessed": 5}, "weight": 20}])
    with pytest.raises(ValueError, match="names must be unique"):
        spec([{"name": "a", "fromProject": {"lastBlessed": 2}, "weight": 10},
              {"name": "a-2", "model": {"uri": "file:///x"}, "weight": 10}])
    with pytest.raises(ValueError, match="lastBlessed"):
        spec([{"name": "a", "fromProject": {"lastBlessed": 6}, "weight": 1}])


def test_the_champion_and_its_last_blessed_versions_run_an_abn_test_and_a_better_old_version_wins():
    s = spec([{"name": "past", "fromProject": {"lastBlessed": 2}, "weight": 30}])
    champion = served_model("tr:r4", "file:///m/r4", "r4")
    arms = expand(s.challengers, RUNS, stable_run=champion.training_run)
    resolved = {a.name: served_model(a.model.key(), f"file:///m/{a.model.training_run}", a.model.training_run)
                for a in arms}
    concrete = s.model_copy(update={"challengers": arms})
    ready = frozenset([champion.predictor, *(m.predictor for m in resolved.values())])
    first = advance(concrete, ModelDeploymentStatus(), champion, Observation(now=0, ready=ready), resolved)
    plan = advance(concrete, first.status, champion, Observation(now=1, ready=ready, monitor={"predictors": {
        champion.predictor: {"correct": 0, "incorrect": 0}}}), resolved)
    t = plan.status.tournament
    assert [(a.name, a.model.training_run, a.weight) for a in t.challengers] == [("past-1", "r3", 30), ("past-2", "r2", 30)]
    assert plan.status.weights == {champion.predictor: 40, resolved["past-1"].predictor: 30, resolved["past-2"].predictor: 30}
    labelled = {champion.predictor: {"correct": 600, "incorrect": 400},
                resolved["past-1"].predictor: {"correct": 390, "incorrect": 10},
                resolved["past-2"].predictor: {"correct": 200, "incorrect": 200}}
    plan = advance(concrete, plan.status, champion, Observation(now=2, ready=ready, monitor={"predictors": labelled}), resolved)
    assert plan.status.tournament.winner == "past-1" and plan.status.stable.training_run == "r3"
