"""The KFP backend against a fake KFP v2beta1 API server on 127.0.0.1 (see kfp_fake.py)."""
from pathlib import Path

import pytest

from mlops_operator.settings import Settings
from mlops_operator.training.backend import TrainingRequest
from mlops_operator.training.backends import Backends
from mlops_operator.training.kfp_backend import KfpBackend, RetryPolicy
from mlops_operator.training.local_backend import LocalBackend

from training_helpers import breast_cancer_project, wait_until_finished
from kfp_fake import FakeKfp

FAST_RETRY = RetryPolicy(attempts=5, initial_delay=0.01, max_delay=0.05)


def small_project(**overrides):
    overrides.setdefault("candidates", [{"name": "logreg", "estimator": "LogisticRegression",
                                         "hyperparameters": {"max_iter": [2000]}}])
    return breast_cancer_project(**overrides)


@pytest.fixture
async def fake(tmp_path):
    server = await FakeKfp(tmp_path / "cluster").start()
    yield server
    await server.stop()


def backend_for(fake: FakeKfp, tmp_path: Path, retry: RetryPolicy = FAST_RETRY) -> KfpBackend:
    return KfpBackend(endpoint=fake.url, experiment="mlops-test", image="registry.example/mlops-components:test",
                      artifact_root=(tmp_path / "artifacts").as_uri(), package_dir=tmp_path / "packages", retry=retry)


@pytest.mark.e2e
async def test_submitted_pipeline_runs_and_succeeds(fake, tmp_path):
    fake.execute = True
    backend = backend_for(fake, tmp_path)
    request = TrainingRequest(namespace="ml", run_name="cancer-kfp", project=small_project())
    first = await backend.submit(request)
    assert first.state in ("Pending", "Running") and first.run_id
    again = await backend.submit(request)  # a retried submit finds the run by its display name
    assert again.run_id == first.run_id and fake.created_runs() == 1
    assert first.url == f"{fake.url}/#/runs/details/{first.run_id}"

    done = await wait_until_finished(backend, request, first)
    assert done.state == "Succeeded", done.message
    assert done.status["comparison"]["decision"] == "Blessed"
    assert done.status["pipeline"]["backend"] == "kfp" and done.status["pipeline"]["state"] == "SUCCEEDED"
    assert first.status["pipeline"]["digest"] == done.status["lineage"]["pipelineDigest"]
    assert done.status["model"]["uri"] == (tmp_path / "artifacts").as_uri() + "/ml/cancer-kfp/model"
    assert fake.experiments and list(fake.experiments.values())[0]["display_name"] == "mlops-test"


@pytest.mark.e2e
async def test_validation_failure_message_reaches_the_outcome(fake, tmp_path):
    fake.execute = True
    csv = tmp_path / "broken.csv"
    csv.write_text("radius,target\n1.0,0\n2.0,1\n,1\n")
    project = small_project(dataset={"uri": str(csv), "version": "1", "target": "target", "schema": {"columns": [
        {"name": "radius", "type": "float"}, {"name": "texture", "type": "float"}]}})
    backend = backend_for(fake, tmp_path)
    request = TrainingRequest(namespace="ml", run_name="broken", project=project)
    done = await wait_until_finished(backend, request, await backend.submit(request))
    assert done.state == "Failed"
    assert "step validate failed" in done.message
    assert "radius: 1 missing values" in done.message and "texture: column is missing" in done.message


async def test_failed_run_without_error_file_reports_the_failed_task(fake, tmp_path):
    backend = backend_for(fake, tmp_path)
    request = TrainingRequest(namespace="ml", run_name="oom", project=small_project())
    submitted = await backend.submit(request)
    fake.finish(submitted.run_id, "FAILED", failed_task="train", message="OOMKilled")
    outcome = await backend.poll(request, submitted.run_id)
    assert outcome.state == "Failed" and outcome.message == "step train failed: OOMKilled"


@pytest.mark.parametrize("kfp_state,expected", [
    ("PENDING", "Pending"), ("RUNNING", "Running"), ("CANCELING", "Running"), ("CANCELED", "Failed"),
    ("SUCCEEDED", "Failed"),  # succeeded but no result.json written: cannot be trusted
])
async def test_kfp_states_map_to_outcomes(fake, tmp_path, kfp_state, expected):
    backend = backend_for(fake, tmp_path)
    request = TrainingRequest(namespace="ml", run_name="states", project=small_project())
    submitted = await backend.submit(request)
    fake.finish(submitted.run_id, kfp_state)
    outcome = await backend.poll(request, submitted.run_id)
    assert outcome.state == expected
    assert outcome.status["pipeline"]["state"] == kfp_state
    if kfp_state == "CANCELED":
        assert "canceled" in outcome.message


async def test_outage_is_retried_with_backoff_and_creates_one_run(fake, tmp_path):
    backend = backend_for(fake, tmp_path)
    request = TrainingRequest(namespace="ml", run_name="flaky", project=small_project())
    fake.outage = 3
    submitted = await backend.submit(request)
    assert submitted.state == "Pending" and submitted.run_id
    assert sum(1 for _, _, status in fake.requests if status == 503) == 3
    assert fake.created_runs() == 1

    fake.outage = 2
    polled = await backend.poll(request, submitted.run_id)
    assert polled.state == "Pending" and polled.run_id == submitted.run_id


async def test_run_created_but_response_lost_is_not_duplicated(fake, tmp_path):
    backend = backend_for(fake, tmp_path)
    request = TrainingRequest(namespace="ml", run_name="lost-reply", project=small_project())
    fake.lose_create_response = 1
    submitted = await backend.submit(request)
    assert submitted.run_id in fake.runs
    assert fake.created_runs() == 1
    posts = [r for r in fake.requests if r[0] == "POST" and r[1].endswith("/runs")]
    assert [status for *_, status in posts] == [503]  # the retry listed and found the run instead


async def test_long_outage_gives_lost_then_recovers(fake, tmp_path):
    backend = backend_for(fake, tmp_path)
    request = TrainingRequest(namespace="ml", run_name="down", project=small_project())
    fake.outage = 100
    outcome = await backend.submit(request)
    assert outcome.state == "Lost" and outcome.run_id is None
    assert "failed after 5 attempts" in outcome.message and "503" in outcome.message
    assert fake.created_runs() == 0
    fake.outage = 0
    recovered = await backend.submit(request)
    assert recovered.state == "Pending" and fake.created_runs() == 1


async def test_rejected_request_fails_without_retrying(fake, tmp_path):
    backend = backend_for(fake, tmp_path)
    fake.reject_create = True
    outcome = await backend.submit(TrainingRequest(namespace="ml", run_name="bad", project=small_project()))
    assert outcome.state == "Failed" and "rejected" in outcome.message
    assert sum(1 for r in fake.requests if r[0] == "POST" and r[1].endswith("/runs")) == 1


async def test_unreachable_endpoint_is_lost_not_a_crash(tmp_path):
    backend = KfpBackend(endpoint="http://127.0.0.1:9", experiment="x", artifact_root=tmp_path.as_uri(),
                         package_dir=tmp_path, retry=RetryPolicy(attempts=2, initial_delay=0.01))
    outcome = await backend.submit(TrainingRequest(namespace="ml", run_name="r", project=small_project()))
    assert outcome.state == "Lost" and "127.0.0.1:9" in outcome.message


def test_backends_follow_project_then_settings(tmp_path):
    settings = Settings(data_dir=tmp_path, kfp_endpoint="http://kfp.example:8888")
    backends = Backends()
    make_backend = backends.for_project
    try:
        local = make_backend(settings, small_project())
        assert isinstance(local, LocalBackend)
        assert make_backend(settings, small_project()) is local  # shared: it tracks its runner processes
        chosen = make_backend(settings, small_project(training={"backend": "kfp", "kfp": {"experiment": "e1"}}))
        assert isinstance(chosen, KfpBackend)
        assert chosen.endpoint == "http://kfp.example:8888" and chosen.experiment == "e1"
        other = make_backend(settings, small_project(training={"backend": "kfp", "kfp": {"experiment": "e2"}}))
        assert other is not chosen and other.experiment == "e2"
        with pytest.raises(ValueError, match="training.kfp.endpoint"):
            make_backend(Settings(data_dir=tmp_path), small_project(training={"backend": "kfp"}))
    finally:
        backends.terminate()


async def test_concurrent_submissions_create_one_experiment(fake, tmp_path):
    import asyncio

    backend = backend_for(fake, tmp_path)
    requests = [TrainingRequest(namespace="ml", run_name=f"run-{i}", project=small_project()) for i in range(8)]
    outcomes = await asyncio.gather(*(backend.submit(r) for r in requests))
    assert all(o.state in ("Pending", "Running") for o in outcomes), [o.message for o in outcomes]
    assert [e["display_name"] for e in fake.experiments.values()] == ["mlops-test"]
    assert fake.created_runs() == 8


async def test_duplicate_experiments_made_elsewhere_resolve_to_the_oldest(fake, tmp_path):
    for experiment_id in ("older", "newer"):  # e.g. left by another tool; kfp.Client refuses to choose
        fake.experiments[experiment_id] = {"experiment_id": experiment_id, "display_name": "mlops-test",
                                           "namespace": "kubeflow", "created_at": "2026-01-01T00:00:00Z"}
    backend = backend_for(fake, tmp_path)
    outcome = await backend.submit(TrainingRequest(namespace="ml", run_name="dup", project=small_project()))
    assert outcome.state in ("Pending", "Running"), outcome.message
    assert next(iter(fake.runs.values()))["experiment_id"] == "older"


async def test_submit_and_poll_leave_the_logging_levels_alone(fake, tmp_path, monkeypatch):
    """kfp_server_api's models reset two loggers' levels per object, which empties every logger's level cache
    (the operator's log calls then walk the logger tree: a measured cost at 1,000 runs). Once the client exists,
    a submit, a retried submit and a poll read runs without building them."""
    import logging

    backend = backend_for(fake, tmp_path)
    await backend.submit(TrainingRequest(namespace="ml", run_name="first", project=small_project()))
    resets = []
    monkeypatch.setattr(logging.Logger, "setLevel", lambda self, level: resets.append(self.name))
    request = TrainingRequest(namespace="ml", run_name="second", project=small_project())
    submitted = await backend.submit(request)
    assert (await backend.submit(request)).run_id == submitted.run_id  # found by name, not created twice
    fake.finish(submitted.run_id, "FAILED", failed_task="train", message="OOMKilled")
    assert (await backend.poll(request, submitted.run_id)).message == "step train failed: OOMKilled"
    assert resets == [] and fake.created_runs() == 2
