"""The project planner: dataset-version and schedule triggers, deduplication, champion, history."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mlops_operator.api.mlproject import MLProjectSpec, MLProjectStatus
from mlops_operator.decisions.project import RunSummary, plan_project, run_name
from mlops_operator.api.cron import parse_cron
from mlops_operator.decisions.schedule import last_fire_time


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def spec(version="v1", **training) -> MLProjectSpec:
    return MLProjectSpec.model_validate({
        "dataset": {"uri": "sklearn:breast_cancer", "version": version, "target": "target"},
        "candidates": [{"name": "lr", "estimator": "LogisticRegression"}],
        "training": training,
    })


def plan(s, status=None, runs=(), serving=None, now=ts("2026-01-01T00:00:00")):
    return plan_project("churn", "ns", "uid-1", s, status or MLProjectStatus(), list(runs), serving, now)


def run(name, phase, version="v1", value=0.9, completed="2026-01-01T00:00:00Z"):
    return RunSummary(name=name, phase=phase, dataset_version=version, trigger="dataset-version",
                      created=completed, completed=completed, metric="roc_auc", value=value,
                      model_uri=f"file:///{name}")


def test_a_new_project_starts_one_run_for_its_dataset_version():
    p = plan(spec())
    assert [o["metadata"]["name"] for o in p.create] == ["churn-v1"]
    obj = p.create[0]
    assert obj["spec"] == {"projectRef": {"name": "churn"}, "datasetVersion": "v1", "trigger": "dataset-version"}
    assert obj["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert p.status.last_dataset_version == "v1" and p.status.phase == "Training"


def test_the_same_version_never_starts_a_second_run():
    first = plan(spec())
    again = plan(spec(), first.status, runs=[run("churn-v1", "Running")])
    assert again.create == ()


def test_changing_the_version_starts_exactly_one_run_and_waits_for_a_running_one():
    done = plan(spec(), runs=[run("churn-v1", "Blessed")]).status
    p = plan(spec("v2"), done, runs=[run("churn-v1", "Blessed")])
    assert [o["metadata"]["name"] for o in p.create] == ["churn-v2"]
    busy = plan(spec("v2"), done, runs=[run("churn-v1", "Running")])
    assert busy.create == () and busy.status.last_dataset_version == "v1"
    allowed = plan(spec("v2", allowConcurrentRuns=True), done, runs=[run("churn-v1", "Running")])
    assert len(allowed.create) == 1


def test_versions_that_are_not_dns_labels_get_distinct_names():
    assert run_name("churn", "v", "2024.01") != run_name("churn", "v", "2024-01")
    assert run_name("churn", "v", "v3") == "churn-v3"


def test_champion_is_the_latest_blessed_run_and_history_is_bounded():
    runs = [run(f"r{i}", "Blessed" if i % 2 else "Rejected", completed=f"2026-01-0{i}T00:00:00Z") for i in range(1, 6)]
    status = MLProjectStatus(last_dataset_version="v1")
    p = plan(spec(historyLimit=3), status, runs=runs, serving="r3")
    assert p.status.champion.training_run == "r5"
    assert [h.training_run for h in p.status.history] == ["r5", "r4", "r3"]
    assert p.status.serving.training_run == "r3"
    assert ("Normal", "NewChampion", "r5: roc_auc=0.900") in p.events
    assert p.status.champion.display == "0.900"  # what kubectl get shows in the SCORE column


def test_a_failed_latest_run_degrades_the_project():
    p = plan(spec(), MLProjectStatus(last_dataset_version="v1"), runs=[run("r1", "Failed")])
    assert p.status.phase == "Degraded"


def test_schedule_fires_once_per_due_time():
    s = spec(schedule="0 * * * *")
    first = plan(s, MLProjectStatus(last_dataset_version="v1"), now=ts("2026-01-01T00:30:00"))
    assert first.create == () and first.status.last_scheduled_time == "2026-01-01T00:30:00Z"
    due = plan(s, first.status, now=ts("2026-01-01T03:10:00"))
    assert [o["spec"]["trigger"] for o in due.create] == ["schedule"]
    assert due.status.last_scheduled_time == "2026-01-01T03:00:00Z"
    again = plan(s, due.status, runs=[run(due.create[0]["metadata"]["name"], "Running")],
                 now=ts("2026-01-01T03:20:00"))
    assert again.create == ()


@pytest.mark.parametrize(("expr", "after", "now", "expected"), [
    ("*/15 * * * *", "2026-01-01T00:01:00", "2026-01-01T00:31:00", "2026-01-01T00:30:00"),
    ("0 6 * * 1", "2026-01-01T00:00:00", "2026-01-06T00:00:00", "2026-01-05T06:00:00"),  # a Monday
    ("0 6 * * 1", "2026-01-05T06:00:00", "2026-01-06T00:00:00", None),
    ("30 2 1 * *", "2026-01-01T00:00:00", "2026-01-01T02:29:00", None),
])
def test_cron(expr, after, now, expected):
    got = last_fire_time(expr, ts(after), ts(now))
    assert got == (ts(expected) if expected else None)


@pytest.mark.parametrize(("expr", "after", "now", "expected"), [
    ("@daily", "2026-01-01T00:00:00", "2026-01-03T10:00:00", "2026-01-03T00:00:00"),
    ("@hourly", "2026-01-01T00:00:00", "2026-01-01T05:59:00", "2026-01-01T05:00:00"),
    ("0 3 * * MON", "2026-01-01T00:00:00", "2026-01-06T00:00:00", "2026-01-05T03:00:00"),
    ("0 3 * * 7", "2026-01-01T00:00:00", "2026-01-06T00:00:00", "2026-01-04T03:00:00"),  # 7 is Sunday
    ("0 3 * JAN ?", "2026-01-01T00:00:00", "2026-01-01T04:00:00", "2026-01-01T03:00:00"),
    ("0 0 1 * MON", "2026-01-01T00:00:00", "2026-01-05T01:00:00", "2026-01-05T00:00:00"),  # either day field
])
def test_cron_as_a_kubernetes_cronjob_accepts_it(expr, after, now, expected):
    assert last_fire_time(expr, ts(after), ts(now)) == ts(expected)


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "*/0 * * * *", "a * * * *", "0 0 * * * *", "@sometimes"])
def test_bad_cron_is_rejected_with_the_schedule_named(bad):
    with pytest.raises(ValueError, match="cron schedule"):
        parse_cron(bad)
