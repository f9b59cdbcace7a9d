"""The BatchPrediction reconcile turn with a stand-in backend: one-off and scheduled runs, a new champion used by the
next scheduled run, the bounded history, and the causes of failure in conditions and Events."""
from __future__ import annotations

import kopf
import pytest

from mlops_operator.api.common import from_rfc3339
from mlops_operator.batch.backend import BatchOutcome
from mlops_operator.decisions.project import RunSummary
from mlops_operator.handlers import batchprediction as handler
from mlops_operator.handlers.indexes import BY_NAME
from mlops_operator.handlers.state import MEMO_KEY, OperatorState


class FakeBackend:
    kind = "local"

    def __init__(self) -> None:
        self.submitted: list = []
        self.next: BatchOutcome | None = None

    async def submit(self, job):
        self.submitted.append(job)
        return BatchOutcome(state="Running", message="pipeline started", run_id=f"local/{job.run}", digest="sha256:p")

    async def poll(self, job, run_id):
        return self.next


@pytest.fixture
def backend(monkeypatch) -> FakeBackend:
    fake = FakeBackend()
    monkeypatch.setattr(handler.BatchBackend, "of", lambda backends, settings, kind, project=None: fake)
    return fake


@pytest.fixture
def events(monkeypatch) -> list:
    seen: list = []
    monkeypatch.setattr(kopf, "event", lambda body, type, reason, message: seen.append((type, reason, message)))
    return seen


def project_index(champion: str | None, uri: str | None = None) -> dict:
    spec = {"dataset": {"uri": "sklearn:breast_cancer", "version": "v1", "target": "target"},
            "candidates": [{"name": "lr", "estimator": "LogisticRegression"}]}
    return {("ml", "p"): [{"spec": spec, "champion": {"trainingRun": champion, "modelUri": uri} if champion else {}}]}


def runs_index(*names: str) -> dict:
    return {(BY_NAME, "ml", n): [RunSummary(name=n, phase="Blessed", dataset_version="v1", trigger="manual",
                                   model_uri=f"file:///{n}")] for n in names}


def succeeded(rows: int = 10) -> BatchOutcome:
    return BatchOutcome(state="Succeeded", message="pipeline succeeded", run_id="x", result={
        "rowsScored": rows, "rowsRejected": 1, "output": {"uri": "file:///out/predictions", "digest": "sha256:o"},
        "lineage": {"inputDigest": "sha256:i", "pipelineDigest": "sha256:p"},
        "summary": {"drift": {"verdict": "NoDrift", "message": "no drift", "features": {"a": {}}}}})


async def turn(spec: dict, status: dict, projects: dict, runs: dict, created: str = "2026-11-27T10:00:30Z") -> tuple[bool, dict]:
    patch = kopf.Patch()
    meta = {"name": "bp", "namespace": "ml", "generation": 1, "creationTimestamp": created}
    done = await handler.reconcile_batch(name="bp", namespace="ml", body={"metadata": meta}, spec=spec, status=status,
                                         meta=meta, patch=patch, projects=projects, training_runs=runs,
                                         memo={MEMO_KEY: OperatorState.from_env()})
    merged = {**status, **patch.get("status", {})}
    return done, {k: v for k, v in merged.items() if v is not None}


async def test_a_one_off_runs_once_and_records_its_result(backend, events):
    spec = {"projectRef": {"name": "p"}, "model": {"champion": True}, "input": {"uri": "/data/new.csv"}}
    done, status = await turn(spec, {}, project_index("p-v1", "file:///p-v1"), runs_index("p-v1"))
    assert not done and status["phase"] == "Running" and status["current"]["name"] == "bp"
    assert backend.submitted[0].model_uri == "file:///p-v1" and backend.submitted[0].training_run == "p-v1"
    backend.next = succeeded()
    done, status = await turn(spec, status, project_index("p-v1", "file:///p-v1"), runs_index("p-v1"))
    assert done and status["phase"] == "Succeeded" and "current" not in status
    assert (status["rowsScored"], status["rowsRejected"]) == (10, 1)
    assert status["lineage"] == {"trainingRun": "p-v1", "modelUri": "file:///p-v1", "inputUri": "/data/new.csv",
                                 "inputDigest": "sha256:i", "pipelineDigest": "sha256:p"}
    assert status["summary"]["drift"] == {"verdict": "NoDrift", "message": "no drift"}
    assert [e[1] for e in events] == ["BatchStarted", "BatchSucceeded"]
    assert await turn(spec, status, {}, {}) == (True, status)  # finished: nothing more, whatever happens
    assert len(backend.submitted) == 1


async def test_a_missing_model_waits_with_a_condition_and_one_event(backend, events):
    spec = {"model": {"trainingRun": "nope"}, "input": {"uri": "/data/new.csv"}}
    done, status = await turn(spec, {}, {}, {})
    assert not done and status["phase"] == "Pending" and not backend.submitted
    assert status["conditions"][0]["reason"] == "ModelNotFound"
    await turn(spec, status, {}, {})
    assert [e[1] for e in events] == ["ModelNotFound"]


async def test_a_failed_run_names_its_cause(backend, events):
    spec = {"model": {"uri": "file:///m"}, "input": {"uri": "/data/new.csv"}}
    _, status = await turn(spec, {}, {}, {})
    backend.next = BatchOutcome(state="Failed", message="pipeline failed", error={
        "step": "prepare", "message": "feature columns missing from the input: a", "error": "SchemaMismatch"})
    done, status = await turn(spec, status, {}, {})
    assert done and status["phase"] == "Failed"
    condition = status["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "SchemaMismatch")
    assert events[-1] == ("Warning", "SchemaMismatch", condition["message"])


async def test_scheduled_runs_use_the_champion_of_their_time_and_keep_a_bounded_history(backend, events, monkeypatch):
    spec = {"projectRef": {"name": "p"}, "model": {"champion": True}, "input": {"uri": "/data/new.csv"},
            "schedule": "0 * * * *", "historyLimit": 2}
    clock = {"now": from_rfc3339("2026-11-27T10:30:00Z")}
    monkeypatch.setattr(handler.time, "time", lambda: clock["now"])
    done, status = await turn(spec, {}, project_index("p-v1", "file:///p-v1"), runs_index("p-v1"))
    assert not done and status["phase"] == "Scheduled" and not backend.submitted  # waits for 11:00
    for hour, champion in ((11, "p-v1"), (12, "p-v2"), (13, "p-v2")):
        clock["now"] = from_rfc3339(f"2026-11-27T{hour}:00:20Z")
        _, status = await turn(spec, status, project_index(champion, f"file:///{champion}"), runs_index(champion))
        assert status["phase"] == "Running" and backend.submitted[-1].model_uri == f"file:///{champion}"
        backend.next = succeeded(rows=hour)
        done, status = await turn(spec, status, project_index(champion, f"file:///{champion}"), runs_index(champion))
        assert not done and status["phase"] == "Scheduled"
        done, status = await turn(spec, status, project_index(champion, f"file:///{champion}"), runs_index(champion))
        assert len(backend.submitted) == hour - 10  # not again within the same hour
    assert [r["name"] for r in status["lastRuns"]] == ["bp-20261127-1300", "bp-20261127-1200"]
    assert [r["lineage"]["trainingRun"] for r in status["lastRuns"]] == ["p-v2", "p-v2"]
    assert status["lastScheduledTime"] == "2026-11-27T13:00:00Z" and status["rowsScored"] == 13
    assert [j.run for j in backend.submitted] == ["bp-20261127-1100", "bp-20261127-1200", "bp-20261127-1300"]
    assert [j.training_run for j in backend.submitted] == ["p-v1", "p-v2", "p-v2"]
