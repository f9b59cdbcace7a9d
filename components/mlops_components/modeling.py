"""Turn a candidate and a grid point into a full scikit-learn Pipeline (transforms + estimator).

The fitted Pipeline is the deployable unit, so it must contain only scikit-learn classes: the
serving image (Seldon SKLEARN_SERVER / MLServer) has scikit-learn, not this package.
"""
from __future__ import annotations

import importlib
import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas costs ~100 MB: the operator imports this module but never needs it
    import pandas as pd

#: Modules searched first for a short estimator name (fast); then all of scikit-learn.
COMMON_MODULES = (
    "sklearn.linear_model", "sklearn.ensemble", "sklearn.tree", "sklearn.svm",
    "sklearn.neighbors", "sklearn.naive_bayes", "sklearn.neural_network", "sklearn.dummy",
)
NUMERIC = ("float", "int")


def task_for_metric(metric_name: str) -> str:
    from mlops_operator.api.mlproject import CLASSIFICATION_METRICS

    return "classification" if metric_name in CLASSIFICATION_METRICS else "regression"


def resolve_estimator(name: str, task: str | None = None) -> type:
    """The estimator class for `LogisticRegression` or `sklearn.ensemble.RandomForestClassifier`."""
    from sklearn.base import BaseEstimator, is_classifier, is_regressor

    found = None
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        if module_name != "sklearn" and not module_name.startswith("sklearn."):
            raise ValueError(f"estimator {name!r}: only scikit-learn estimators (sklearn.*) are allowed")
        try:
            found = getattr(importlib.import_module(module_name), class_name, None)
        except ImportError:
            found = None
    else:
        for module_name in COMMON_MODULES:
            found = getattr(importlib.import_module(module_name), name, None)
            if found is not None:
                break
        if found is None:
            from sklearn.utils import all_estimators

            found = dict(all_estimators()).get(name)
    if not isinstance(found, type) or not issubclass(found, BaseEstimator):
        raise ValueError(f"estimator {name!r}: not a scikit-learn estimator")
    if task == "classification" and not is_classifier(found()):
        raise ValueError(f"estimator {name!r}: is not a classifier, but the project's metric needs one")
    if task == "regression" and not is_regressor(found()):
        raise ValueError(f"estimator {name!r}: is not a regressor, but the project's metric needs one")
    return found


def expand_trials(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every candidate x grid point, each with a stable id (`<candidate>-<n>`)."""
    trials = []
    for candidate in candidates:
        grid = candidate.get("hyperparameters") or {}
        names = list(grid)
        for index, values in enumerate(itertools.product(*(grid[n] for n in names))):
            trials.append({
                "id": f"{candidate['name']}-{index}",
                "candidate": candidate["name"],
                "estimator": candidate["estimator"],
                "hyperparameters": dict(zip(names, values)),
                "preprocessing": candidate.get("preprocessing", "standard"),
            })
    return trials


def infer_type(series: pd.Series) -> str:
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(series):
        return "bool"
    if ptypes.is_integer_dtype(series):
        return "int"
    if ptypes.is_numeric_dtype(series):
        return "float"
    return "string"


def feature_columns(frame: pd.DataFrame, columns: list[dict[str, Any]] | None, target: str) -> list[dict[str, str]]:
    """Features and their types: the schema's columns when declared, otherwise all but the target."""
    if columns:
        return [{"name": c["name"], "type": c["type"]} for c in columns if c["name"] != target]
    return [{"name": str(n), "type": infer_type(frame[n])} for n in frame.columns if n != target]


def make_estimator(trial: dict[str, Any], task: str, seed: int):
    cls = resolve_estimator(trial["estimator"], task)
    estimator = cls()
    params = dict(trial.get("hyperparameters") or {})
    if "random_state" in estimator.get_params() and "random_state" not in params:
        params["random_state"] = seed
    try:
        estimator.set_params(**params)
    except ValueError as exc:
        raise ValueError(f"candidates[{trial['candidate']}].hyperparameters: {exc}") from exc
    return estimator


def make_pipeline(trial: dict[str, Any], features: list[dict[str, str]], task: str, seed: int):
    """Imputation, scaling / one-hot encoding and the estimator, as one sklearn Pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler}
    numeric = [f["name"] for f in features if f["type"] in NUMERIC]
    boolean = [f["name"] for f in features if f["type"] == "bool"]
    categorical = [f["name"] for f in features if f["type"] not in NUMERIC and f["type"] != "bool"]
    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    preprocessing = trial.get("preprocessing", "standard")
    if preprocessing in scalers:
        numeric_steps.append(("scale", scalers[preprocessing]()))
    elif preprocessing != "none":
        raise ValueError(f"candidates[{trial['candidate']}].preprocessing: unknown value {preprocessing!r}")
    transformers = []
    if numeric:
        transformers.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        transformers.append((
            "categorical",
            Pipeline([
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]),
            categorical,
        ))
    if boolean:  # SimpleImputer refuses bool arrays; the encoder treats a missing value as its own category
        transformers.append(("boolean", OneHotEncoder(handle_unknown="ignore"), boolean))
    return Pipeline([
        ("preprocess", ColumnTransformer(transformers, remainder="drop")),
        ("estimator", make_estimator(trial, task, seed)),
    ])
