"""Shared helpers of the training tests: example projects, a local backend fixture, waiting for outcomes.

A plain module (not conftest.py) so its name cannot clash with other test directories' conftest."""
import asyncio
import time
from pathlib import Path

import pytest

from mlops_operator.api.mlproject import MLProjectSpec
from mlops_operator.training.backend import TrainingOutcome, TrainingRequest
from mlops_operator.training.local_backend import LocalBackend

RUN_TIMEOUT_SECONDS = 600


def breast_cancer_project(**overrides) -> MLProjectSpec:
    """The example project: two logistic regressions and a forest on sklearn's breast cancer data."""
    document = {
        "dataset": {"uri": "sklearn:breast_cancer", "version": "v1", "target": "target"},
        "candidates": [
            {"name": "logreg", "estimator": "LogisticRegression",
             "hyperparameters": {"C": [0.1, 1.0], "max_iter": [2000]}},
            {"name": "forest", "estimator": "sklearn.ensemble.RandomForestClassifier",
             "hyperparameters": {"n_estimators": [50]}, "preprocessing": "none"},
        ],
        "metric": {"name": "roc_auc", "minimum": 0.9},
        "training": {"testSize": 0.25, "seed": 42, "bootstrapSamples": 100},
    }
    document.update(overrides)
    return MLProjectSpec.model_validate(document)


def penguins_project() -> MLProjectSpec:
    numeric = {"type": "float", "nullable": True}
    return MLProjectSpec.model_validate({
        "dataset": {
            "uri": "palmerpenguins", "version": "2020", "target": "species",
            "schema": {"columns": [
                {"name": "species", "type": "category", "categories": ["Adelie", "Chinstrap", "Gentoo"]},
                {"name": "island", "type": "category", "categories": ["Biscoe", "Dream", "Torgersen"]},
                {"name": "bill_length_mm", **numeric, "min": 20, "max": 70},
                {"name": "bill_depth_mm", **numeric, "min": 10, "max": 25},
                {"name": "flipper_length_mm", **numeric, "min": 150, "max": 250},
                {"name": "body_mass_g", **numeric, "min": 2000, "max": 7000},
                {"name": "sex", "type": "string", "nullable": True, "categories": ["female", "male"]},
                {"name": "year", "type": "int", "min": 2007, "max": 2009},
            ]},
        },
        "candidates": [{"name": "logreg", "estimator": "LogisticRegression", "hyperparameters": {"max_iter": [2000]}}],
        "metric": {"name": "f1", "minimum": 0.8},
        "training": {"bootstrapSamples": 50},
    })


async def wait_until_finished(backend, request: TrainingRequest, outcome: TrainingOutcome,
                              timeout: float = RUN_TIMEOUT_SECONDS) -> TrainingOutcome:
    deadline = time.monotonic() + timeout
    while not outcome.finished:
        assert outcome.state in ("Pending", "Running"), outcome
        assert time.monotonic() < deadline, f"run {request.run_name} did not finish: {outcome}"
        await asyncio.sleep(0.5)
        outcome = await backend.poll(request, outcome.run_id)
    return outcome


def run_to_completion(backend, request: TrainingRequest) -> TrainingOutcome:
    """Submit and wait, from synchronous (module-scoped) fixtures."""
    async def go():
        return await wait_until_finished(backend, request, await backend.submit(request))

    return asyncio.run(go())


@pytest.fixture
def local_backend(tmp_path: Path):
    backend = LocalBackend(data_dir=tmp_path / "data")
    yield backend
    backend.terminate()
