"""Hypothesis strategies for MLProject, TrainingRun and ModelDeployment objects, valid and invalid.

Each object starts valid (every field of the kind's spec can appear, with plausible values and
edge values inside the limits) and then, most of the time, gets a few mutations near the schema:
a field of the wrong type, a required field removed, a number outside its range, an unknown enum
value, a bad duration or cron string, a huge string or list, a null, an unknown field, or a field
the CRD knows about added with a hostile value. Mutations are applied to any path of the object,
so valid and invalid parts mix in one object.
"""
from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
API_VERSION = "mlops.dev/v1alpha1"
PLURALS = {"MLProject": "mlprojects", "TrainingRun": "trainingruns", "ModelDeployment": "modeldeployments"}


def crd_spec_schema(plural: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "crds" / f"{plural}.yaml").read_text())
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def schema_paths(schema: dict[str, Any], prefix: tuple = ()) -> list[tuple[tuple, dict[str, Any]]]:
    """Every object property path of the schema below `spec` (array items as index 0), with its schema."""
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        path = (*prefix, name)
        found.append((path, prop))
        found.extend(schema_paths(prop, path))
        items = prop.get("items")
        if isinstance(items, dict):
            found.extend(schema_paths(items, (*path, 0)))
    return found


SCHEMA_PATHS = {kind: schema_paths(crd_spec_schema(plural)) for kind, plural in PLURALS.items()}

# -- plausible values --------------------------------------------------------------------------

dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?\Z")
short_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
printable = st.text(string.ascii_letters + string.digits + "-_./:@ ", min_size=1, max_size=24)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                        st.floats(allow_nan=False, allow_infinity=False, width=32), short_text)
good_duration = st.one_of(st.sampled_from(["1s", "30s", "1m", "5m", "1h30m", "500ms", "0s", "10m"]),
                          st.from_regex(r"\A([0-9]{1,4}(ms|s|m|h)){1,3}\Z"))
bad_duration = st.sampled_from(["", "5", "1d", "-1s", "1.5h", "1h30", "PT5M", "5 m", "m", "1y", "∞s", "1s\n"])
cron_field = st.one_of(st.just("*"), st.integers(0, 70).map(str), st.sampled_from(["*/5", "1-5", "0,30", "5-1", "*/0",
                                                                                   "1-2-3", "a", "", "-1", "7"]))
good_cron = st.sampled_from(["* * * * *", "0 * * * *", "*/15 * * * *", "0 3 * * 1-5", "30 2 1 * *", "0 0 31 2 *",
                             "0,30 9-17 * * 0,6", "59 23 31 12 6"])
any_cron = st.one_of(good_cron, st.lists(cron_field, min_size=3, max_size=7).map(" ".join),
                     st.sampled_from(["", "@daily", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
                                      "* * * * 8", "0 0 * * MON", "1/0 * * * *"]))
huge_string = st.integers(1_000, 200_000).map(lambda n: "x" * n)
huge_list = st.integers(21, 3_000).flatmap(lambda n: st.just([1] * n) | st.just(["a"] * n) | st.just([{}] * n))
big_number = st.sampled_from([-1, 0, 1, 100, 101, -(2**63), 2**63 - 1, 2**64, 10**30, 1e300, -1e300, 0.5, 1.0,
                              1e-300, 10001, 9999, 1e308])
hostile = st.one_of(
    st.none(), st.booleans(), big_number, st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    short_text, st.just(""), huge_string, huge_list, bad_duration, any_cron,
    st.lists(json_scalar, max_size=5), st.dictionaries(printable, json_scalar, max_size=4),
    st.sampled_from(["Canary", "linear", "blue-green", "None", "null", "true", "1", "ROC_AUC", "sklearn:", " "]),
)
#: Values worth trying for a field, by its name (plausible and wrong ones); the rest get `hostile`.
BY_FIELD: dict[str, st.SearchStrategy] = {
    "interval": st.one_of(good_duration, bad_duration), "duration": st.one_of(good_duration, bad_duration),
    "progressDeadline": st.one_of(good_duration, bad_duration), "schedule": any_cron,
    "type": st.sampled_from(["direct", "canary", "abtest", "shadow", "bluegreen", "float", "int", "string", "category",
                             "bool", "double", "Canary", ""]),
    "name": st.one_of(dns_label, st.sampled_from(["roc_auc", "accuracy", "rmse", "speed", "Bad_Name", "a" * 41, "-x", ""])),
    "steps": st.one_of(st.lists(st.integers(-5, 120), max_size=22), st.lists(st.integers(1, 100), min_size=1,
                                                                                max_size=5, unique=True).map(sorted)),
    "backend": st.sampled_from(["local", "kfp", "argo", "", "KFP"]),
    "format": st.sampled_from(["csv", "parquet", "json", ""]),
    "trigger": st.sampled_from(["manual", "dataset-version", "schedule", "drift", "cron", ""]),
    "implementation": st.sampled_from(["SKLEARN_SERVER", "MLSERVER", "XGBOOST_SERVER", "sklearn", ""]),
    "statistic": st.sampled_from(["psi", "ks", "chi2", ""]),
    "preprocessing": st.sampled_from(["standard", "minmax", "none", "robust", ""]),
}


# -- valid objects ---------------------------------------------------------------------------

def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """None (the field is left out) or a value."""
    return st.none() | strategy


def compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def fields(**parts: st.SearchStrategy) -> st.SearchStrategy:
    """A dict with each field present or absent; absent fields take the models' defaults."""
    return st.fixed_dictionaries({k: maybe(v) for k, v in parts.items()}).map(compact)


@st.composite
def column(draw) -> dict[str, Any]:
    col = draw(fields(min=st.floats(-1e9, 1e9), max=st.floats(-1e9, 1e9),
                      categories=st.lists(short_text, max_size=4), nullable=st.booleans()))
    if "min" in col and "max" in col and col["min"] > col["max"]:
        col["min"], col["max"] = col["max"], col["min"]
    return {"name": draw(printable), "type": draw(st.sampled_from(["float", "int", "string", "category", "bool"])), **col}


@st.composite
def candidates(draw) -> list[dict[str, Any]]:
    names = draw(st.lists(dns_label, min_size=1, max_size=4, unique=True))
    result = []
    for name in names:
        result.append({"name": name, **draw(fields(
            hyperparameters=st.dictionaries(st.sampled_from(["C", "max_iter", "n_estimators", "alpha", "max_depth", "x"]),
                                            st.lists(json_scalar, max_size=3), max_size=3),
            preprocessing=st.sampled_from(["standard", "minmax", "none"]))),
            "estimator": draw(st.sampled_from(["LogisticRegression", "RandomForestClassifier", "Ridge",
                                               "sklearn.ensemble.RandomForestClassifier", "NoSuchEstimator",
                                               "os.system"]))})
    return result


def mlproject_spec() -> st.SearchStrategy:
    dataset = st.fixed_dictionaries(
        {"uri": st.sampled_from(["sklearn:iris", "sklearn:breast_cancer", "palmerpenguins", "s3://b/d.csv",
                                 "file:///nowhere/d.parquet", "https://example.invalid/d.csv"]) | printable,
         "version": st.one_of(dns_label, printable), "target": printable},
        optional={"format": st.sampled_from(["csv", "parquet"]),
                  "schema": st.fixed_dictionaries({"columns": st.lists(column(), min_size=1, max_size=3)})})
    training = fields(
        backend=st.sampled_from(["local", "kfp"]), testSize=st.floats(0.01, 0.99), seed=st.integers(0, 2**31),
        bootstrapSamples=st.integers(10, 10000), schedule=good_cron | any_cron, allowConcurrentRuns=st.booleans(),
        historyLimit=st.integers(1, 100),
        kfp=fields(endpoint=printable, namespace=dns_label, experiment=printable))
    return st.fixed_dictionaries({"dataset": dataset, "candidates": candidates()}, optional={
        "metric": fields(name=st.sampled_from(["roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "rmse",
                                              "mae", "r2"]), minimum=st.floats(-10, 10)),
        "champion": fields(minImprovement=st.floats(0, 1), requireSignificance=st.booleans()),
        "approval": fields(required=st.booleans(), approvers=st.lists(printable, max_size=3)),
        "training": training,
        "drift": fields(enabled=st.booleans(), statistic=st.sampled_from(["psi", "ks"]),
                        threshold=st.floats(0.001, 10), window=st.integers(10, 10**6), retrain=st.booleans()),
    })


def trainingrun_spec(projects: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({"projectRef": st.fixed_dictionaries({"name": projects})}, optional={
        "datasetVersion": st.one_of(dns_label, printable),
        "trigger": st.sampled_from(["manual", "dataset-version", "schedule", "drift"]),
        "approval": st.fixed_dictionaries({"approvedBy": printable}, optional={"comment": short_text}),
    })


@st.composite
def modeldeployment_spec(draw, projects: st.SearchStrategy, runs: st.SearchStrategy) -> dict[str, Any]:
    source = draw(st.sampled_from(["trainingRun", "uri", "champion"]))
    model: dict[str, Any] = {
        "trainingRun": {"trainingRun": draw(runs)},
        "uri": {"uri": draw(st.sampled_from(["file:///nowhere/model", "s3://bucket/model", "/tmp", "gs://m"]) | printable)},
        "champion": {"champion": True},
    }[source]
    if source != "champion" and draw(st.booleans()):
        model["champion"] = False
    spec: dict[str, Any] = {"model": model}
    if source == "champion" or draw(st.booleans()):
        spec["projectRef"] = {"name": draw(projects)}
    weight = draw(st.integers(0, 100))
    spec.update(draw(fields(
        strategy=fields(
            type=st.sampled_from(["direct", "canary", "abtest", "shadow"]),
            canary=fields(steps=st.lists(st.integers(1, 100), min_size=1, max_size=20, unique=True).map(sorted),
                          interval=good_duration),
            abtest=st.sampled_from([{"stableWeight": weight, "candidateWeight": 100 - weight}, {"duration": "5m"}, {}]),
            shadow=fields(percent=st.integers(1, 100), duration=good_duration),
            analysis=fields(maxErrorRate=st.floats(0, 1), maxLatencyMs=st.floats(0.001, 1e6), minRequests=st.integers(0, 10**6),
                            failureLimit=st.integers(1, 100)),
            progressDeadline=good_duration, autoPromote=st.booleans()),
        replicas=st.integers(0, 100),
        resources=fields(requests=st.dictionaries(st.sampled_from(["cpu", "memory"]), st.sampled_from(["100m", "1Gi", "2"])),
                         limits=st.dictionaries(st.sampled_from(["cpu", "memory"]), st.sampled_from(["1", "512Mi"]))),
        server=fields(implementation=st.sampled_from(["SKLEARN_SERVER", "MLSERVER"]), image=printable),
        paused=st.booleans(),
    )))
    return spec


# -- mutations -------------------------------------------------------------------------------

def _nodes(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    found = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            found.extend(_nodes(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value[:20]):
            found.extend(_nodes(v, (*path, i)))
    return found


def _value_for(key: Any) -> st.SearchStrategy:
    return BY_FIELD[key] | hostile if key in BY_FIELD else hostile


@st.composite
def mutate(draw, kind: str, spec: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The spec with 0..3 mutations and their descriptions (for reading a failure)."""
    spec = copy.deepcopy(spec)
    done: list[str] = []
    count = draw(st.sampled_from([0, 0, 0, 1, 1, 1, 2, 2, 3]))
    for _ in range(count):
        nodes = [(p, v) for p, v in _nodes(spec) if p]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "add", "unknown"]))
        if op in ("replace", "delete") and nodes:
            path, _ = draw(st.sampled_from(nodes))
            parent = spec
            for part in path[:-1]:
                parent = parent[part]
            if op == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
                done.append(f"delete {'.'.join(map(str, path))}")
            else:
                parent[path[-1]] = draw(_value_for(path[-1]))
                done.append(f"replace {'.'.join(map(str, path))}")
        elif op == "add":
            path, _ = draw(st.sampled_from(SCHEMA_PATHS[kind]))
            parent: Any = spec
            for part in path[:-1]:
                if isinstance(parent, dict) and part in parent:
                    parent = parent[part]
                elif isinstance(parent, list) and isinstance(part, int) and parent:
                    parent = parent[0]
                else:
                    parent = None
                    break
            if isinstance(parent, dict):
                parent[path[-1]] = draw(_value_for(path[-1]))
                done.append(f"set {'.'.join(map(str, path))}")
        else:
            dicts = [(p, v) for p, v in _nodes(spec) if isinstance(v, dict)]
            path, target = draw(st.sampled_from(dicts))
            key = draw(st.sampled_from(["surprise", "Type", "step", "metadata", "x-y", "replica"]))
            target[key] = draw(json_scalar)
            done.append(f"unknown {'.'.join(map(str, (*path, key)))}")
    if draw(st.integers(0, 40)) == 0:  # rarely: the whole spec is wrong
        spec = draw(st.sampled_from([None, [], "spec", 1, {}]))
        done.append("spec replaced")
    return spec, done


PROJECT_NAMES = st.sampled_from([f"fz-p{i}" for i in range(8)]) | dns_label
RUN_NAMES = st.sampled_from([f"fz-p{i}-v1" for i in range(4)]) | dns_label


def valid_spec(kind: str) -> st.SearchStrategy:
    if kind == "MLProject":
        return mlproject_spec()
    if kind == "TrainingRun":
        return trainingrun_spec(PROJECT_NAMES)
    return modeldeployment_spec(PROJECT_NAMES, RUN_NAMES)


@st.composite
def fuzzed_object(draw, kind: str) -> tuple[dict[str, Any], list[str]]:
    """(object, mutations): a whole custom object of `kind` whose spec is valid or near-valid."""
    spec, mutations = draw(mutate(kind, draw(valid_spec(kind))))
    body: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, "metadata": {}}
    if spec is not None or draw(st.booleans()):
        body["spec"] = spec
    return body, mutations
