"""The KFP backend sends what kfp.Client.run_pipeline would send, without its slow package parse."""
from __future__ import annotations

import copy
import json
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


async def test_run_body_is_what_kfp_client_builds_from_the_package_and_arguments(fake, tmp_path):
    """The same spec as kfp.Client sends for the run's package, except that the run parameters have no
    default (the spec is shared by every run of its shape): the run's values are its runtime arguments."""
    import asyncio

    compiled = compile_pipeline(example_inputs())
    package = compiled.write(tmp_path / "pipeline.yaml")
    client = await asyncio.to_thread(client_of, fake.url)
    expected = client._create_job_config(params=compiled.parameters, pipeline_package_path=str(package),
                                         pipeline_id=None, version_id=None, enable_caching=None, cache_key=None,
                                         pipeline_root=None)
    body = json.loads(compiled.run_body("experiment-1", "run-1"))
    assert body["runtime_config"] == {"parameters": expected.runtime_config.parameters} != {"parameters": {}}
    assert (body["experiment_id"], body["display_name"]) == ("experiment-1", "run-1")
    spec = copy.deepcopy(expected.pipeline_spec)
    parameters = spec.get("pipeline_spec", spec)["root"]["inputDefinitions"]["parameters"]
    for name in compiled.parameters:
        assert parameters[name].pop("defaultValue") == compiled.parameters[name]
        parameters[name].pop("isOptional")
    assert body["pipeline_spec"] == spec


async def test_runs_of_one_shape_share_one_serialised_spec():
    first, second = example_inputs(), example_inputs(run_name="another-run", dataset_version="v2")
    a, b = compile_pipeline(first), compile_pipeline(second)
    assert a.shape is b.shape and a.parameters != b.parameters
    assert json.loads(a.run_body("e", "a"))["pipeline_spec"] == json.loads(b.run_body("e", "b"))["pipeline_spec"]


async def test_create_run_reaches_the_run_service_with_the_spec_and_its_values(fake):
    """Also the version fence: fails loudly if a kfp upgrade moves `Client._run_api` or its ApiClient."""
    import asyncio

    assert kfp.__version__ == "2.17.0", "kfp changed: check kfp_backend.create_run against Client.run_pipeline"
    compiled = compile_pipeline(example_inputs())

    def submit():
        client = client_of(fake.url)
        experiment = client.create_experiment("fence")
        return create_run(client, experiment.experiment_id, "fenced-run", compiled)

    run = await asyncio.to_thread(submit)
    assert run.display_name == "fenced-run" and run.run_id in fake.runs
    assert fake.created_runs() == 1
    # the stand-in resolves the runtime values as KFP's driver does: the run executes with the run's values
    submitted = fake.submitted[run.run_id]
    parameters = submitted.get("pipeline_spec", submitted)["root"]["inputDefinitions"]["parameters"]
    assert {name: parameters[name]["defaultValue"] for name in compiled.parameters} == compiled.parameters


async def test_create_run_errors_carry_the_status(fake):
    """A refused create raises kfp_server_api's ApiException with its status, which the retry policy reads."""
    import asyncio

    from kfp_server_api.exceptions import ApiException

    compiled = compile_pipeline(example_inputs())
    fake.reject_create = True

    def submit():
        client = client_of(fake.url)
        return create_run(client, client.create_experiment("refused").experiment_id, "refused-run", compiled)

    with pytest.raises(ApiException) as refused:
        await asyncio.to_thread(submit)
    assert refused.value.status == 400 and b"invalid pipeline spec" in refused.value.body
