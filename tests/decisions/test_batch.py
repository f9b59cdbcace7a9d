"""The pure rules of a BatchPrediction: model choice, schedule, run verdicts, bounded history."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_operator.api.batchprediction import BatchModelSource, BatchPredictionSpec
from mlops_operator.api.common import from_rfc3339
from mlops_operator.decisions import batch as rules
from mlops_operator.decisions.project import RunSummary


def run(name: str, phase: str | None = "Blessed", uri: str | None = "file:///m") -> RunSummary:
    return RunSummary(name=name, phase=phase, dataset_version="v1", trigger="manual", model_uri=uri)


def test_model_from_a_uri():
    assert rules.choose_model(BatchModelSource(uri="s3://b/m"), None, None, None) == rules.ModelChoice("s3://b/m", None)


def test_model_from_a_blessed_training_run_and_why_not_otherwise():
    source = BatchModelSource(training_run="p-v1")
    assert rules.choose_model(source, None, None, run("p-v1")) == rules.ModelChoice("file:///m", "p-v1")
    missing = rules.choose_model(source, None, None, None)
    assert not missing.found and "TrainingRun 'p-v1' not found" in missing.message
    running = rules.choose_model(source, None, None, run("p-v1", "Running"))
    assert not running.found and "is Running, not Blessed" in running.message


def test_model_from_the_champion():
    source = BatchModelSource(champion=True)
    assert "not found" in rules.choose_model(source, "p", None, None).message
    assert "no champion yet" in rules.choose_model(source, "p", {"spec": {}, "champion": {}}, None).message
    view = {"spec": {}, "champion": {"trainingRun": "p-v2", "modelUri": "file:///v2"}}
    assert rules.choose_model(source, "p", view, None) == rules.ModelChoice("file:///v2", "p-v2")


def test_a_new_scheduled_prediction_waits_for_its_first_schedule_time():
    created = "2026-11-27T10:00:30Z"
    assert rules.due("*/5 * * * *", None, created, from_rfc3339("2026-11-27T10:04:59Z")) is None
    fire = rules.due("*/5 * * * *", None, created, from_rfc3339("2026-11-27T10:05:10Z"))
    assert fire == from_rfc3339("2026-11-27T10:05:00Z")
    # that time is taken: nothing more until the next one; missed times collapse into the latest
    assert rules.due("*/5 * * * *", "2026-11-27T10:05:00Z", created, from_rfc3339("2026-11-27T10:09:00Z")) is None
    assert rules.due("*/5 * * * *", "2026-11-27T10:05:00Z", created,
                     from_rfc3339("2026-11-27T10:31:00Z")) == from_rfc3339("2026-11-27T10:30:00Z")


def test_run_names():
    assert rules.run_name("nightly", None) == "nightly"
    assert rules.run_name("nightly", from_rfc3339("2026-11-27T10:05:00Z")) == "nightly-20261127-1005"


@pytest.mark.parametrize("error, reason", [
    ({"step": "prepare", "message": "no csv file at /x", "error": "InputMissing"}, "InputMissing"),
    ({"step": "prepare", "message": "the input has no rows", "error": "EmptyInput"}, "EmptyInput"),
    ({"step": "prepare", "message": "feature columns missing", "error": "SchemaMismatch"}, "SchemaMismatch"),
    ({"step": "prepare", "message": "no model at s3://x", "error": "ModelNotFound"}, "ModelNotFound"),
    ({"step": "score-0", "message": "boom", "error": "RuntimeError"}, "PipelineFailed"),
    (None, "PipelineFailed"),
])
def test_a_failed_run_names_its_cause(error, reason):
    verdict = rules.run_verdict("r", "Failed", "pipeline failed", error, None)
    assert verdict.phase == "Failed" and verdict.reason == reason
    assert verdict.event[:2] == ("Warning", reason)
    if error:
        assert error["message"] in verdict.message and error["step"] in verdict.message


def test_success_counts_rows_and_mentions_drift():
    result = {"rowsScored": 90, "rowsRejected": 10,
              "summary": {"drift": {"verdict": "Drifted", "message": "1 of 3 features drifted"}}}
    verdict = rules.run_verdict("r", "Succeeded", "", None, result)
    assert (verdict.phase, verdict.reason) == ("Succeeded", "Scored")
    assert "90 rows scored, 10 rejected" in verdict.message and "drifted" in verdict.message
    assert verdict.event[0] == "Normal"


def test_a_run_that_scored_nothing_failed():
    result = {"rowsScored": 0, "rowsRejected": 5, "summary": {"rejectedBy": {"x: not a number": 5}}}
    verdict = rules.run_verdict("r", "Succeeded", "", None, result)
    assert (verdict.phase, verdict.reason) == ("Failed", "AllRowsRejected")
    assert "x: not a number (5)" in verdict.message


def test_lost_runs_are_resubmitted_a_bounded_number_of_times():
    assert rules.run_verdict("r", "Running", "pipeline running", None, None).phase == "Running"
    retry = rules.run_verdict("r", "Lost", "runner exited", None, None, lost=1)
    assert retry.phase == "Running" and retry.retry
    final = rules.run_verdict("r", "Lost", "runner exited", None, None, lost=rules.MAX_LOST)
    assert (final.phase, final.reason) == ("Failed", "PipelineLost")


def test_phases():
    assert rules.object_phase(False, "Succeeded") == "Succeeded"
    assert rules.object_phase(False, None) == "Pending"
    assert rules.object_phase(True, "Running") == "Running"
    assert rules.object_phase(True, "Failed") == "Scheduled"


def test_history_is_bounded_newest_first_and_idempotent():
    history: list[dict] = []
    for i in range(5):
        history = rules.record(history, {"name": f"r{i}"}, limit=3)
    assert [h["name"] for h in history] == ["r4", "r3", "r2"]
    assert [h["name"] for h in rules.record(history, {"name": "r4", "phase": "x"}, 3)] == ["r4", "r3", "r2"]


def test_summary_for_status_drops_per_feature_details():
    summary = {"drift": {"verdict": "NoDrift", "features": {"a": {}}}, "predictions": {"classes": {"0": 1}}}
    assert rules.summary_for_status(summary) == {"drift": {"verdict": "NoDrift"}, "predictions": {"classes": {"0": 1}}}


def test_spec_rules():
    base = {"model": {"uri": "file:///m"}, "input": {"uri": "/data/{version}.csv", "version": "2026-11"}}
    spec = BatchPredictionSpec.model_validate(base)
    assert spec.input.resolved_uri() == "/data/2026-11.csv"
    with pytest.raises(ValidationError, match="version"):
        BatchPredictionSpec.model_validate({**base, "input": {"uri": "/data/{version}.csv"}})
    with pytest.raises(ValidationError, match="exactly one"):
        BatchPredictionSpec.model_validate({**base, "model": {"uri": "x", "trainingRun": "y"}})
    with pytest.raises(ValidationError, match="projectRef"):
        BatchPredictionSpec.model_validate({**base, "model": {"champion": True}})
    with pytest.raises(ValidationError, match="cron"):
        BatchPredictionSpec.model_validate({**base, "schedule": "every day"})
