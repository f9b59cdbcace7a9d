"""The compiled pipeline IR: deterministic, cached by digest, valid for kfp's loader, and pinned by a golden file.

Regenerate the golden file after an intended change of the pipeline or its components with
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/training/test_training_pipeline_golden.py
and review the diff.
"""
import json
import os
from pathlib import Path

import pytest
import yaml
from kfp.components import load_component_from_file

from mlops_operator.api.mlproject import MLProjectSpec
from mlops_operator.training import pipeline
from mlops_operator.training.pipeline import PipelineInputs, compile_pipeline
from mlops_operator.training.storage import SECRET_KEY_TO_ENV, StorageSettings

from training_helpers import breast_cancer_project

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "training-pipeline.yaml"
EXAMPLE = REPO / "manifests" / "examples" / "breast-cancer.yaml"


def example_project() -> MLProjectSpec:
    """The MLProject of the shipped breast-cancer example."""
    documents = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d and d.get("kind") == "MLProject"]
    return MLProjectSpec.model_validate(documents[0]["spec"])


#: Kubeflow's MinIO, its keys in the Secret `mlpipeline-s3` (as the README's cluster walkthrough sets it up).
CLUSTER_STORAGE = StorageSettings(endpoint="http://minio-service.kubeflow:9000", region="us-east-1",
                                  verify_tls=True, secret_name="mlpipeline-s3")


def example_inputs(**changes) -> PipelineInputs:
    values = dict(project=example_project(), run_name="breast-cancer-1", dataset_version="v1",
                  champion_model_uri="file:///var/lib/mlops/runs/ml/cancer-0/model", champion_run="cancer-0",
                  output_uri="s3://mlpipeline/mlops-operator/ml/cancer-1", image="registry.example/mlops-components:test",
                  storage=CLUSTER_STORAGE)
    values.update(changes)
    return PipelineInputs(**values)


def test_pipeline_matches_golden_file():
    compiled = compile_pipeline(example_inputs())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(compiled.yaml_text)
    assert GOLDEN.exists(), f"{GOLDEN} missing: run with UPDATE_GOLDEN=1 to create it"
    assert compiled.yaml_text == GOLDEN.read_text(), "pipeline IR changed: review, then UPDATE_GOLDEN=1"


def test_golden_file_loads_with_kfp_and_has_the_expected_shape(tmp_path):
    component = load_component_from_file(str(GOLDEN))
    spec = component.pipeline_spec
    assert spec.pipeline_info.name == pipeline.PIPELINE_NAME
    tasks = spec.root.dag.tasks
    assert {"ingest", "validate", "split", "select-and-compare", "report", "register"} <= set(tasks)
    loop = next(t for t in tasks.values() if t.WhichOneof("iterator") == "parameter_iterator")
    assert loop.iterator_policy.parallelism_limit == pipeline.TRAIN_PARALLELISM
    assert set(tasks["split"].dependent_tasks) == {"ingest", "validate"}  # no training before validation
    assert set(tasks["report"].dependent_tasks) == {"ingest", "select-and-compare", "split"}
    assert set(tasks["register"].dependent_tasks) == {"ingest", "report", "select-and-compare", "split"}
    report_outputs = spec.components["comp-report"].output_definitions.artifacts
    assert report_outputs["html_report"].artifact_type.schema_title == "system.HTML"  # shown in the KFP UI
    defaults = {k: v.default_value for k, v in spec.root.input_definitions.parameters.items()}
    assert defaults["champion_model_uri"].string_value == "file:///var/lib/mlops/runs/ml/cancer-0/model"
    assert defaults["run_name"].string_value == "breast-cancer-1"
    assert defaults["metric_name"].string_value == "roc_auc"
    images = {e["container"]["image"] for e in next(yaml.safe_load_all(GOLDEN.read_text()))["deploymentSpec"]["executors"].values()}
    assert images == {"registry.example/mlops-components:test"}


def test_trials_are_the_static_items_of_the_parallel_for():
    document = next(yaml.safe_load_all(compile_pipeline(example_inputs()).yaml_text))
    loop = next(t for t in document["root"]["dag"]["tasks"].values() if "parameterIterator" in t)
    raw = loop["parameterIterator"]["items"]["raw"]
    trials = [json.loads(item) for item in json.loads(raw)]
    assert [t["id"] for t in trials] == [
        "logistic-regression-0", "logistic-regression-1", "logistic-regression-2", "random-forest-0"]
    assert trials[2]["hyperparameters"] == {"C": 10.0, "max_iter": 1000}


def test_runs_of_one_project_compile_once_and_match_a_direct_compile():
    first = example_inputs()
    second = example_inputs(run_name="cancer-2", dataset_version="v2", champion_run=None, champion_model_uri=None,
                            output_uri="file:///tmp/other")
    pipeline._shapes.clear()
    a, b = compile_pipeline(first), compile_pipeline(second)
    assert len(pipeline._shapes) == 1  # one kfp compilation served both runs
    def documents(text):
        return list(yaml.safe_load_all(text))

    assert documents(a.yaml_text) == documents(pipeline.compile_now(first))
    assert documents(b.yaml_text) == documents(pipeline.compile_now(second))  # the same IR as compiling that run alone
    assert a.yaml_text.startswith("# PIPELINE DEFINITION")  # kfp's header comments are kept
    assert a.yaml_text != b.yaml_text
    assert compile_pipeline(first).yaml_text == a.yaml_text and compile_pipeline(first).digest == a.digest


@pytest.mark.parametrize("change", [
    {"run_name": "cancer-2"}, {"dataset_version": "v2"}, {"champion_model_uri": None},
    {"output_uri": "file:///tmp/x"}, {"image": "other:1"},
    {"project": breast_cancer_project(metric={"name": "accuracy", "minimum": 0.9})},
])
def test_digest_follows_every_input(change):
    base, changed = example_inputs(), example_inputs(**change)
    assert base.digest() != changed.digest()
    assert compile_pipeline(changed).digest == changed.digest()


@pytest.mark.parametrize("candidate,words", [
    ({"name": "x", "estimator": "NoSuchEstimator"}, "candidates[0].estimator"),
    ({"name": "x", "estimator": "os.system"}, "only scikit-learn"),
    ({"name": "x", "estimator": "LinearRegression"}, "not a classifier"),
    ({"name": "x", "estimator": "LogisticRegression", "hyperparameters": {"bogus": [1]}}, "candidates[x].hyperparameters"),
])
def test_bad_candidates_are_refused_naming_the_field(candidate, words):
    with pytest.raises(ValueError) as caught:
        compile_pipeline(example_inputs(project=breast_cancer_project(candidates=[candidate])))
    assert words in str(caught.value)


def test_every_step_gets_the_stores_settings_and_the_secrets_keys_by_name_only():
    """The IR names the Secret (kfp-kubernetes secretAsEnv) and carries the endpoint as plain env; no key values."""
    documents = list(yaml.safe_load_all(GOLDEN.read_text()))
    executors = documents[0]["deploymentSpec"]["executors"]
    platform = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform) == set(executors)  # every step, the ParallelFor's too
    for name, executor in executors.items():
        env = {e["name"]: e["value"] for e in executor["container"]["env"]}
        assert env == {"MLOPS_S3_ENDPOINT": "http://minio-service.kubeflow:9000", "AWS_REGION": "us-east-1",
                       "MLOPS_S3_VERIFY": "true"}, name
        (secret,) = platform[name]["secretAsEnv"]
        assert secret["secretName"] == "mlpipeline-s3"
        assert {(k["secretKey"], k["envVar"]) for k in secret["keyToEnv"]} == set(SECRET_KEY_TO_ENV.items())


def test_without_an_object_store_the_ir_has_no_storage_wiring():
    text = compile_pipeline(example_inputs(storage=StorageSettings())).yaml_text
    assert "secretAsEnv" not in text and "MLOPS_S3_ENDPOINT" not in text
