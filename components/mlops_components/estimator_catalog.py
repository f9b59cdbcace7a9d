"""Check candidate estimators and hyperparameter names without importing scikit-learn.

The operator checks every MLProject's candidates before compiling its pipeline; importing
scikit-learn for that costs about 200 MB in a process that otherwise needs none of it. So the
facts the check needs (which classes exist, where, whether each is a classifier or a regressor,
its constructor parameters) are generated once from the installed scikit-learn into
`estimators.json`; a test regenerates it and fails when the installed version disagrees.
Training itself (`modeling.resolve_estimator`) still imports the real class.

Regenerate with `python -m mlops_components.estimator_catalog`.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

CATALOG_FILE = Path(__file__).with_name("estimators.json")


def generate() -> dict[str, Any]:
    """The catalogue of the installed scikit-learn (imports it: only for regeneration and tests)."""
    import sklearn
    from sklearn.utils import all_estimators

    from .modeling import COMMON_MODULES

    kinds = {name: kind for kind in ("classifier", "regressor") for name, _ in all_estimators(type_filter=kind)}
    classes: dict[str, Any] = {}
    for name, cls in all_estimators():
        classes[name] = {"module": cls.__module__, "kind": kinds.get(name, "other"),
                         "params": sorted(cls._get_param_names())}
    # A short name resolves in the common modules first, exactly as modeling.resolve_estimator does.
    import importlib

    short = {}
    for module_name in COMMON_MODULES:
        module = importlib.import_module(module_name)
        for name in classes:
            if name not in short and isinstance(getattr(module, name, None), type):
                short[name] = module_name
    for name, entry in classes.items():
        entry["public"] = short.get(name, entry["module"].split("._")[0])
    return {"sklearn": sklearn.__version__, "estimators": dict(sorted(classes.items()))}


@functools.cache
def catalog() -> dict[str, Any]:
    return json.loads(CATALOG_FILE.read_text())


def lookup(name: str, task: str | None = None) -> dict[str, Any]:
    """The catalogue entry of `LogisticRegression` or `sklearn.linear_model.LogisticRegression`;
    a ValueError in the same words as `modeling.resolve_estimator` when it is no estimator for `task`."""
    estimators = catalog()["estimators"]
    if "." in name:
        module_name, _, class_name = name.rpartition(".")
        if module_name != "sklearn" and not module_name.startswith("sklearn."):
            raise ValueError(f"estimator {name!r}: only scikit-learn estimators (sklearn.*) are allowed")
        entry = estimators.get(class_name)
        if entry is None or module_name not in (entry["public"], entry["module"]):
            raise ValueError(f"estimator {name!r}: not a scikit-learn estimator")
    else:
        entry = estimators.get(name)
        if entry is None:
            raise ValueError(f"estimator {name!r}: not a scikit-learn estimator")
    if task == "classification" and entry["kind"] != "classifier":
        raise ValueError(f"estimator {name!r}: is not a classifier, but the project's metric needs one")
    if task == "regression" and entry["kind"] != "regressor":
        raise ValueError(f"estimator {name!r}: is not a regressor, but the project's metric needs one")
    return entry


def check_hyperparameters(trial: dict[str, Any], task: str) -> None:
    """Refuse hyperparameter names the estimator does not take, naming the candidate."""
    entry = lookup(trial["estimator"], task)
    unknown = sorted(set(trial.get("hyperparameters") or {}) - set(entry["params"]))
    if unknown:
        raise ValueError(f"candidates[{trial['candidate']}].hyperparameters: invalid parameter {unknown[0]!r} "
                         f"for estimator {trial['estimator']}; valid parameters are: {', '.join(entry['params'])}")


if __name__ == "__main__":
    CATALOG_FILE.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOG_FILE} ({len(catalog.__wrapped__()['estimators'])} estimators)", file=sys.stderr)
