"""The estimator catalogue the operator checks candidates with agrees with the installed scikit-learn."""
from __future__ import annotations

import subprocess
import sys

import pytest

from mlops_components import estimator_catalog, modeling


def test_the_catalogue_is_the_installed_scikit_learns():
    fresh = estimator_catalog.generate()
    stored = estimator_catalog.catalog()
    assert stored["sklearn"] == fresh["sklearn"], (
        "scikit-learn changed: run `python -m mlops_components.estimator_catalog` and commit estimators.json")
    assert stored == fresh


@pytest.mark.parametrize("name", ["LogisticRegression", "sklearn.ensemble.RandomForestRegressor", "KernelRidge",
                                  "HistGradientBoostingClassifier", "sklearn.svm.SVC", "MLPRegressor"])
@pytest.mark.parametrize("task", [None, "classification", "regression"])
def test_lookup_decides_as_the_real_resolution_does(name, task):
    try:
        modeling.resolve_estimator(name, task)
        real = None
    except ValueError as exc:
        real = str(exc)
    try:
        estimator_catalog.lookup(name, task)
        ours = None
    except ValueError as exc:
        ours = str(exc)
    assert ours == real


@pytest.mark.parametrize("name", ["torch.nn.Linear", "sklearn.ensemble.NoSuchForest", "NoSuchThing",
                                  "sklearn.linear_model.RandomForestClassifier", "StandardScaler"])
def test_bad_names_are_refused_in_the_same_words(name):
    with pytest.raises(ValueError) as real:
        modeling.resolve_estimator(name, "classification")
    with pytest.raises(ValueError) as ours:
        estimator_catalog.lookup(name, "classification")
    assert str(ours.value) == str(real.value)


def test_unknown_hyperparameters_are_named_with_the_candidate():
    trial = {"candidate": "lr", "estimator": "LogisticRegression", "hyperparameters": {"C": 1.0, "depth": 3}}
    with pytest.raises(ValueError, match=r"candidates\[lr\]\.hyperparameters: invalid parameter 'depth'"):
        estimator_catalog.check_hyperparameters(trial, "classification")
    estimator_catalog.check_hyperparameters({**trial, "hyperparameters": {"C": 1.0, "max_iter": 5}}, "classification")


def test_checking_candidates_imports_neither_scikit_learn_nor_pandas():
    """The point of the catalogue: the operator's process stays small (issue 8, scale)."""
    code = ("import sys\n"
            "from mlops_operator.api.mlproject import MLProjectSpec\n"
            "from mlops_operator.training.pipeline import check_candidates\n"
            "spec = MLProjectSpec.model_validate({'dataset': {'uri': 'sklearn:iris', 'version': 'v1', 'target': 'target'},"
            " 'candidates': [{'name': 'rf', 'estimator': 'RandomForestClassifier', 'hyperparameters': {'max_depth': [2, 3]}}],"
            " 'metric': {'name': 'accuracy', 'minimum': 0.5}})\n"
            "assert len(check_candidates(spec)) == 2\n"
            "print(sorted(m for m in ('sklearn', 'pandas', 'pyarrow') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
