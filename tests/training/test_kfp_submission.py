"""The KFP backend sends what kfp.Client.run_pipeline would send, without its slow package parse."""
from __future__ import annotations

import warnings

import kfp
import pytest

from mlops_operator.training.kfp_backend import create_run
from mlops_operator.training.pipeline import compile_pipeline

from kfp_fake import FakeKfp
from test_training_pipeline_golden import example_inputs


@pytest.fixture
async def fake(tmp_path):
    server = await FakeKfp(tmp_path / "cluster").start()
    yield server
    await server.stop()


def client_of(url: str) -> kfp.Client:
    with warnings.catch_warnings():  # "only works with KFP >= 2.0.0-beta.2": the stand-in speaks v2beta1
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=url)


async def test_run_spec_is_what_kfp_client_builds_from_the_package(fake, tmp_path):
    import asyncio

    compiled = compile_pipeline(example_inputs())
    package = compiled.write(tmp_path / "pipeline.yaml")
    client = await asyncio.to_thread(client_of, fake.url)
    expected = client._create_job_config(params=None, pipeline_package_path=str(package), pipeline_id=None,
                                         version_id=None, enable_caching=None, cache_key=None,
                                         pipeline_root=None).pipeline_spec
    assert compiled.run_spec() == expected


async def test_create_run_reaches_the_run_service_with_the_spec(fake):
    """Also the version fence: fails loudly if a kfp upgrade moves `Client._run_api`."""
    import asyncio

    assert kfp.__version__ == "2.17.0", "kfp changed: check kfp_backend.create_run against Client.run_pipeline"
    spec = compile_pipeline(example_inputs()).run_spec()

    def submit():
        client = client_of(fake.url)
        experiment = client.create_experiment("fence")
        return create_run(client, experiment.experiment_id, "fenced-run", spec)

    run = await asyncio.to_thread(submit)
    assert run.display_name == "fenced-run" and run.run_id in fake.runs
    assert fake.created_runs() == 1
