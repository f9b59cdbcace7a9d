"""Build and compile the training pipeline of one TrainingRun (pure: no cluster, no I/O but a temp file).

Everything run-specific (dataset, metric, champion, output location) becomes a pipeline parameter
default, and the candidate grid becomes the static items of a `dsl.ParallelFor`, so the compiled IR
YAML alone fully describes the run. The same inputs always compile to the same bytes; compiled
packages are cached by the digest of their inputs, and that digest goes to status.pipeline.digest.
"""
# No `from __future__ import annotations` here: kfp reads the pipeline function's annotations at runtime.

import functools
import hashlib
import json
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import kfp
import yaml
from kfp import compiler, dsl
from kfp.compiler.pipeline_spec_builder import extract_comments_from_pipeline_spec

from mlops_components import catalog, estimator_catalog, modeling
from mlops_operator.api.mlproject import MLProjectSpec
from mlops_operator.training.storage import StorageSettings, apply_to_step

PIPELINE_NAME = "mlops-training"
#: Trials trained at once; bounded so one run cannot flood a cluster (or a laptop).
TRAIN_PARALLELISM = 4
_COMPONENT_SOURCES = Path(catalog.__file__).parent


@dataclass(frozen=True)
class PipelineInputs:
    """What one compiled pipeline depends on; its digest identifies the package."""

    project: MLProjectSpec
    run_name: str
    dataset_version: str
    champion_model_uri: str | None
    champion_run: str | None
    output_uri: str
    image: str = catalog.DEFAULT_IMAGE
    storage: StorageSettings = StorageSettings()

    def document(self) -> dict[str, Any]:
        return {
            **({"storage": self.storage.document()} if self.storage != StorageSettings() else {}),
            "project": self.project.wire(),
            "runName": self.run_name,
            "datasetVersion": self.dataset_version,
            "championModelUri": self.champion_model_uri,
            "championRun": self.champion_run,
            "outputUri": self.output_uri,
            "image": self.image,
            "kfp": kfp.__version__,
            "code": code_version(),
            "components": components_fingerprint(),
        }

    def digest(self) -> str:
        canonical = json.dumps(self.document(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def shape_digest(self) -> str:
        """Identifies the pipeline's structure: the document without the per-run parameter values."""
        shape = {k: v for k, v in self.document().items() if k not in _RUN_DOCUMENT_KEYS}
        return hashlib.sha256(json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def run_parameters(self) -> dict[str, str]:
        """Values that differ from run to run; in the IR they are only the root parameters' defaults."""
        return {
            "run_name": self.run_name,
            "dataset_version": self.dataset_version,
            "champion_run": self.champion_run or "",
            "champion_model_uri": self.champion_model_uri or "",
            "output_uri": self.output_uri,
            "pipeline_digest": self.digest(),
        }


_RUN_DOCUMENT_KEYS = frozenset({"runName", "datasetVersion", "championModelUri", "championRun", "outputUri"})


def _package_text(documents: tuple[dict[str, Any], ...]) -> str:
    """The package file kfp's compiler would write (with its header comments), written by libyaml."""
    spec = documents[0]
    header = extract_comments_from_pipeline_spec(spec, spec["pipelineInfo"].get("description"))
    return header + yaml.dump_all(documents, Dumper=yaml.CSafeDumper, sort_keys=True)


def _run_spec(documents: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The `pipeline_spec` of a KFP v2beta1 run body, as kfp.Client.run_pipeline builds it from a package
    file: the compiler's documents are already protobuf's JSON form, so they go as they are."""
    spec, *platforms = documents
    platform: dict[str, Any] = {}
    for document in platforms:
        platform.update(document or {})
    return {"pipeline_spec": spec, "platform_spec": platform} if platform else spec


def _with_parameters(spec: dict[str, Any], change: Callable[[str, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """`spec` with each root parameter replaced by change(name, parameter), copying only that path
    (the rest is shared with the cached shape, which nobody modifies)."""
    root = spec["root"]
    definitions = root["inputDefinitions"]
    parameters = {name: change(name, parameter) for name, parameter in definitions["parameters"].items()}
    return {**spec, "root": {**root, "inputDefinitions": {**definitions, "parameters": parameters}}}


@dataclass(frozen=True)
class PipelineShape:
    """What kfp's compiler made for one pipeline shape (the pipeline spec, then the platform spec if
    any), shared by every run of that shape; `run_parameters` are the root parameters runs set."""

    documents: tuple[dict[str, Any], ...]
    run_parameters: frozenset[str]

    @functools.cached_property
    def run_spec_json(self) -> str:
        """The run body's `pipeline_spec` as JSON, serialised once per shape: the run parameters have no
        default here (so KFP refuses a run that does not set one), a run sets them in its runtime config.
        Per-run copies, walks and serialisations of the spec were a third of the operator's CPU at 1,000
        TrainingRuns (issue 8, profiled with py-spy)."""
        spec, *rest = self.documents

        def required(name: str, parameter: dict[str, Any]) -> dict[str, Any]:
            if name not in self.run_parameters:
                return parameter
            return {k: v for k, v in parameter.items() if k not in ("defaultValue", "isOptional")}

        return json.dumps(_run_spec((_with_parameters(spec, required), *rest)))


@dataclass(frozen=True)
class CompiledPipeline:
    """One run of a compiled shape: the shape's IR and this run's values of its run parameters."""

    digest: str
    shape: PipelineShape
    parameters: dict[str, Any]

    @functools.cached_property
    def documents(self) -> tuple[dict[str, Any], ...]:
        """The run's own IR: its values as the run parameters' defaults, the same IR as compiling this
        run alone (a test holds that), so the package file alone describes the run."""
        spec, *rest = self.shape.documents
        values = self.parameters

        def with_value(name: str, parameter: dict[str, Any]) -> dict[str, Any]:
            return {**parameter, "defaultValue": values[name]} if name in values else parameter

        return (_with_parameters(spec, with_value), *rest)

    @functools.cached_property
    def yaml_text(self) -> str:
        return _package_text(self.documents)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.yaml_text)
        return path

    def run_body(self, experiment_id: str, display_name: str) -> bytes:
        """A KFP v2beta1 create-run body: the shape's spec (serialised once) and this run's parameters in
        its runtime config, as kfp.Client.run_pipeline(arguments=...) sends them (a test compares)."""
        return ('{"experiment_id": %s, "display_name": %s, "pipeline_spec": %s, "runtime_config": {"parameters": %s}}'
                % (json.dumps(experiment_id), json.dumps(display_name), self.shape.run_spec_json,
                   json.dumps(self.parameters))).encode()


def cached_compile(inputs: Any, shapes: dict[str, PipelineShape],
                   compile_text: Callable[[Any], str]) -> CompiledPipeline:
    """Compile once per pipeline shape (kept in `shapes`); a run is its shape and its parameter values.

    Every run-specific value is a pipeline parameter, so two runs of one shape differ only in
    `root.inputDefinitions.parameters.<name>.defaultValue`."""
    key = inputs.shape_digest()
    parameters = inputs.run_parameters()
    with _cache_lock:  # the kfp compiler keeps global state: one compilation at a time
        shape = shapes.get(key)
        if shape is None:
            documents = tuple(yaml.load_all(compile_text(inputs), Loader=yaml.CSafeLoader))
            shape = shapes[key] = PipelineShape(documents, frozenset(parameters))
            while len(shapes) > CACHE_SIZE:
                shapes.pop(next(iter(shapes)))  # oldest first: dicts keep insertion order
    return CompiledPipeline(digest=inputs.digest(), shape=shape, parameters=parameters)


@lru_cache(maxsize=1)
def code_version() -> str:
    try:
        return metadata.version("mlops-operator")
    except metadata.PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def components_fingerprint() -> str:
    """Digest of the training components' sources: a code change must change the pipeline digest.

    The batch-scoring components (batch_*.py) are not part of training; batch.pipeline digests them."""
    sha = hashlib.sha256()
    for path in sorted(p for p in _COMPONENT_SOURCES.glob("*.py") if not p.name.startswith("batch_")):
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


def check_candidates(project: MLProjectSpec) -> list[dict[str, Any]]:
    """Every trial of the grid, after checking each estimator and hyperparameter name exists."""
    task = modeling.task_for_metric(project.metric.name)
    trials = modeling.expand_trials([c.model_dump(mode="json") for c in project.candidates])
    for index, candidate in enumerate(project.candidates):
        try:
            estimator_catalog.lookup(candidate.estimator, task)
        except ValueError as exc:
            raise ValueError(f"candidates[{index}].estimator: {exc}") from exc
    for trial in trials:
        estimator_catalog.check_hyperparameters(trial, task)
    return trials


def _schema_json(project: MLProjectSpec) -> str:
    schema = project.dataset.schema_
    if schema is None:
        return ""
    return json.dumps([c.model_dump(mode="json") for c in schema.columns], sort_keys=True)


def build(inputs: PipelineInputs):
    """The kfp pipeline function (a GraphComponent) for these inputs."""
    project = inputs.project
    trials = [json.dumps(t, sort_keys=True) for t in check_candidates(project)]
    parts = catalog.build(inputs.image)
    task_kind = modeling.task_for_metric(project.metric.name)
    digest = inputs.digest()
    training = project.training

    @dsl.pipeline(name=PIPELINE_NAME, description="Train candidates, gate on the champion, report, register the model.")
    def training_pipeline(
        run_name: str = inputs.run_name,
        dataset_uri: str = project.dataset.uri,
        dataset_version: str = inputs.dataset_version,
        dataset_format: str = project.dataset.format,
        target: str = project.dataset.target,
        schema_json: str = _schema_json(project),
        task: str = task_kind,
        metric_name: str = project.metric.name,
        metric_json: str = project.metric.model_dump_json(by_alias=True),
        champion_policy_json: str = project.champion.model_dump_json(by_alias=True),
        test_size: float = training.test_size,
        seed: int = training.seed,
        bootstrap_samples: int = training.bootstrap_samples,
        champion_run: str = inputs.champion_run or "",
        champion_model_uri: str = inputs.champion_model_uri or "",
        output_uri: str = inputs.output_uri,
        pipeline_digest: str = digest,
        code_version: str = code_version(),
    ):
        ingested = parts.ingest(dataset_uri=dataset_uri, dataset_format=dataset_format, target=target,
                                output_uri=output_uri)
        checked = parts.validate(dataset=ingested.outputs["dataset"], schema_json=schema_json, target=target,
                                 output_uri=output_uri)
        divided = parts.split(dataset=ingested.outputs["dataset"], target=target, task=task, test_size=test_size,
                              seed=seed, output_uri=output_uri).after(checked)
        with dsl.ParallelFor(items=trials, parallelism=TRAIN_PARALLELISM) as trial:
            trained = parts.train(trial_json=trial, train=divided.outputs["train"], schema_json=schema_json,
                                  target=target, task=task, seed=seed, output_uri=output_uri)
            scored = parts.evaluate(trial_json=trial, model=trained.outputs["model"], test=divided.outputs["test"],
                                    schema_json=schema_json, target=target, metric_name=metric_name,
                                    bootstrap_samples=bootstrap_samples, seed=seed, output_uri=output_uri)
        selected = parts.select_and_compare(
            models=dsl.Collected(trained.outputs["model"]), evaluations=dsl.Collected(scored.outputs["Output"]),
            test=divided.outputs["test"], schema_json=schema_json, target=target, metric_json=metric_json,
            champion_policy_json=champion_policy_json, champion_run=champion_run,
            champion_model_uri=champion_model_uri, bootstrap_samples=bootstrap_samples, seed=seed,
            output_uri=output_uri)
        reported = parts.report(
            dataset=ingested.outputs["dataset"], test=divided.outputs["test"], best_model=selected.outputs["best_model"],
            selection_json=selected.outputs["Output"], schema_json=schema_json, target=target, task=task,
            metric_name=metric_name, seed=seed, run_name=run_name, dataset_uri=dataset_uri,
            dataset_version=dataset_version, output_uri=output_uri)
        registered = parts.register(
            best_model=selected.outputs["best_model"], train=divided.outputs["train"], test=divided.outputs["test"],
            selection_json=selected.outputs["Output"], schema_json=schema_json, target=target, task=task,
            metric_name=metric_name, model_name=run_name, dataset_uri=dataset_uri,
            dataset_version=dataset_version, dataset_digest=ingested.outputs["Output"],
            pipeline_digest=pipeline_digest, code_version=code_version, seed=divided.outputs["Output"],
            champion_run=champion_run, output_uri=output_uri, report_uri=reported.outputs["Output"])
        for step in (ingested, checked, divided, trained, scored, selected, reported, registered):
            step.set_caching_options(False)  # steps read live data and write the run's outputs
            apply_to_step(step, inputs.storage)  # the object store's settings and the Secret's keys

    return training_pipeline


#: Compiled pipeline shapes kept in memory (parsed IR documents), and the lock around kfp's compiler.
CACHE_SIZE = 64
_shapes: dict[str, PipelineShape] = {}
_cache_lock = threading.Lock()


def compile_now(inputs: PipelineInputs) -> str:
    """The IR YAML straight from kfp's compiler (about 0.3 s)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "pipeline.yaml"
        compiler.Compiler().compile(build(inputs), str(path))
        return path.read_text()


def compile_pipeline(inputs: PipelineInputs) -> CompiledPipeline:
    """The run's IR: compiled once per shape (about 0.1 s), then about 1 ms per run."""
    return cached_compile(inputs, _shapes, compile_now)
