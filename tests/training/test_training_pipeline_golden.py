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

from training_helpers import breast_cancer_project

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "training-pipeline.yaml"
EXAMPLE = REPO / "manifests" / "examples" / "breast-cancer.yaml"


def example_project() -> MLProjectSpec:
    """The MLProject of the shipped breast-cancer example."""
    documents = [d for d in yaml.safe_load_all(EXAMPLE.read_text()) if d and d.get("kind") == "MLProject"]
    return MLProjectSpec.model_validate(documents[0]["spec"])


def example_inputs(**changes) -> PipelineInputs:
    values = dict(project=example_project(), run_name="breast-cancer-1", dataset_version="v1",
                  champion_model_uri="file:///var/lib/mlops/runs/ml/cancer-0/model", champion_run="cancer-0",
                  output_uri="s3://mlpipeline/mlops-operator/ml/cancer-1", image="registry.example/mlops-components:test")
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
    images = {e["container"]["image"] for e in yaml.safe_load(GOLDEN.read_text())["deploymentSpec"]["executors"].values()}
    assert images == {"registry.example/mlops-components:test"}


def test_trials_are_the_static_items_of_the_parallel_for():
    document = yaml.safe_load(compile_pipeline(example_inputs()).yaml_text)
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
    assert a.yaml_text == pipeline.compile_now(first)
    assert b.yaml_text == pipeline.compile_now(second)  # byte-identical to compiling that run on its own
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
