"""The batch-scoring pipeline: compiled IR (shape, parallel shards, per-run parameters, digest) and runs on both
backends: `local` (kfp.local in a child process) and `kfp` (a fake KFP API that runs the package)."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kfp.components import load_component_from_file

from mlops_operator.batch.backend import BatchBackend, BatchJob
from mlops_operator.batch.pipeline import BatchPipelineInputs, compile_batch_pipeline, compile_now
from mlops_operator.settings import Settings
from mlops_operator.training.backends import Backends
from mlops_operator.training.kfp_backend import KfpBackend, RetryPolicy
from tests.e2e.harness import FEATURES, FRAME, make_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from kfp_fake import FakeKfp  # noqa: E402


def inputs(**changes) -> BatchPipelineInputs:
    values = dict(run_name="nightly-20261127-0200", model_uri="s3://models/churn-v3/model", training_run="churn-v3",
                  input_uri="s3://data/2026-11-27.parquet", input_format="parquet", input_version="2026-11-27",
                  schema_columns=({"name": "tenure", "type": "int", "min": 0},), keep_columns=("customer",),
                  chunk_size=50_000, parallelism=3, predictions_uri="s3://out/nightly-20261127-0200",
                  output_uri="s3://runs/nightly-20261127-0200", image="registry.example/mlops-components:test")
    values.update(changes)
    return BatchPipelineInputs(**values)


def test_the_ir_scores_in_parallel_shards_and_carries_the_run_in_its_parameters(tmp_path):
    compiled = compile_batch_pipeline(inputs())
    path = tmp_path / "pipeline.yaml"
    path.write_text(compiled.yaml_text)
    spec = load_component_from_file(str(path)).pipeline_spec
    tasks = spec.root.dag.tasks
    assert {"batch-prepare", "batch-summarize"} <= set(tasks)
    loop = next(t for t in tasks.values() if t.WhichOneof("iterator") == "parameter_iterator")
    assert loop.iterator_policy.parallelism_limit == 3
    assert json.loads(loop.parameter_iterator.items.raw) == [0, 1, 2]
    defaults = {k: v.default_value for k, v in spec.root.input_definitions.parameters.items()}
    assert defaults["model_uri"].string_value == "s3://models/churn-v3/model"
    assert defaults["chunk_size"].number_value == 50_000
    assert json.loads(defaults["schema_json"].string_value) == [{"name": "tenure", "type": "int", "min": 0}]
    assert defaults["pipeline_digest"].string_value == compiled.digest
    images = {e["container"]["image"] for e in yaml.safe_load(compiled.yaml_text)["deploymentSpec"]["executors"].values()}
    assert images == {"registry.example/mlops-components:test"}


def test_runs_of_one_shape_compile_once_and_match_a_direct_compile():
    other = inputs(run_name="nightly-20261128-0200", input_uri="s3://data/2026-11-28.parquet", training_run=None,
                   schema_columns=None, keep_columns=())
    assert yaml.safe_load(compile_batch_pipeline(other).yaml_text) == yaml.safe_load(compile_now(other))
    assert compile_batch_pipeline(other).digest != compile_batch_pipeline(inputs()).digest


@pytest.mark.parametrize("change", [{"model_uri": "s3://m2"}, {"input_uri": "s3://d2"}, {"chunk_size": 10},
                                    {"parallelism": 2}, {"keep_columns": ()}, {"drift_threshold": 0.3}])
def test_digest_follows_every_input(change):
    assert inputs().digest() != inputs(**change).digest()


def job(tmp_path: Path, model_uri: str, input_uri: str, run: str = "once", parallelism: int = 2) -> BatchJob:
    return BatchJob(namespace="ml", prediction="bp", run=run, model_uri=model_uri, training_run="tr-1",
                    input_uri=input_uri, input_format="csv", input_version=None, schema_columns=None,
                    keep_columns=("id",), chunk_size=100, parallelism=parallelism)


async def finish(backend: BatchBackend, batch_job: BatchJob, timeout: float = 240):
    outcome = await backend.submit(batch_job)
    for _ in range(int(timeout)):
        if outcome.finished:
            return outcome
        await asyncio.sleep(1)
        outcome = await backend.poll(batch_job, outcome.run_id)
    raise AssertionError(f"not finished: {outcome}")


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory) -> str:
    return make_model(tmp_path_factory.mktemp("model") / "m")


@pytest.mark.e2e
async def test_local_backend_runs_the_pipeline_and_reports_the_cause_of_a_failure(tmp_path, model_uri):
    frame = FRAME[FEATURES].iloc[:450].assign(id=range(450))
    frame.to_csv(tmp_path / "in.csv", index=False)
    backends = Backends()
    backend = BatchBackend.of(backends, Settings(data_dir=tmp_path / "data"), "local")
    try:
        done = await finish(backend, job(tmp_path, model_uri, str(tmp_path / "in.csv")))
        assert done.state == "Succeeded", done
        assert (done.result["rowsScored"], done.result["rowsRejected"]) == (450, 0)
        assert done.run_id == "local/ml/batch-once" and done.digest.startswith("sha256:")
        out = Path(done.result["output"]["uri"].removeprefix("file://"))
        assert sorted(pd.read_parquet(out)["row_id"]) == list(range(450))
        assert out.parent == tmp_path.resolve() / "data" / "batch" / "ml" / "bp" / "once" / "output"
        again = await backend.submit(job(tmp_path, model_uri, str(tmp_path / "in.csv")))  # idempotent
        assert again.state == "Succeeded" and again.run_id == done.run_id

        failed = await finish(backend, job(tmp_path, model_uri, str(tmp_path / "nowhere.csv"), run="missing"))
        assert failed.state == "Failed" and failed.error["error"] == "InputMissing"
        assert "no csv file at" in failed.error["message"] and failed.error["step"] == "prepare"
    finally:
        backends.terminate()


@pytest.mark.e2e
async def test_kfp_backend_submits_the_batch_pipeline(tmp_path, model_uri):
    fake = await FakeKfp(tmp_path / "cluster").start()
    fake.execute = True
    try:
        frame = FRAME[FEATURES].iloc[:300].assign(id=range(300))
        frame.to_csv(tmp_path / "in.csv", index=False)
        kfp = KfpBackend(endpoint=fake.url, experiment="mlops-test", artifact_root=(tmp_path / "artifacts").as_uri(),
                         package_dir=tmp_path / "packages", retry=RetryPolicy(attempts=3, initial_delay=0.01))
        backend = BatchBackend(kfp, "kfp")
        done = await finish(backend, job(tmp_path, model_uri, str(tmp_path / "in.csv"), parallelism=1))
        assert done.state == "Succeeded", done
        assert done.result["rowsScored"] == 300
        assert done.result["output"]["uri"] == (tmp_path / "artifacts").as_uri() + "/ml/batch/bp/once/output/predictions"
        assert fake.created_runs() == 1
        await backend.submit(job(tmp_path, model_uri, str(tmp_path / "in.csv"), parallelism=1))
        assert fake.created_runs() == 1  # found by its display name, not submitted twice
    finally:
        await fake.stop()
