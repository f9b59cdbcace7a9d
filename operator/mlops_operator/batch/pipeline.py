"""Build and compile the batch-scoring pipeline of one BatchPrediction run (pure: no cluster, no I/O but a temp file).

    prepare (model + input checks, digests) -> ParallelFor shard in range(parallelism): score -> summarize

Every run-specific value is a root parameter default, so the compiled IR alone describes the run;
the structure depends only on the parallelism and the image, and is compiled once per shape.
"""
# No `from __future__ import annotations` here: kfp reads the pipeline function's annotations at runtime.

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import kfp
from kfp import dsl

from mlops_components import batch_steps, catalog
from mlops_operator.training.storage import StorageSettings, apply_to_step
from mlops_operator.training import pipeline as training_pipeline
from mlops_operator.training.pipeline import CompiledPipeline

PIPELINE_NAME = "mlops-batch-prediction"
_COMPONENT_SOURCES = Path(catalog.__file__).parent


@lru_cache(maxsize=1)
def components_fingerprint() -> str:
    """Digest of every component source the batch pipeline runs (its own steps and the shared helpers)."""
    sha = hashlib.sha256()
    for path in sorted(_COMPONENT_SOURCES.glob("*.py")):
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()[:16]


@dataclass(frozen=True)
class BatchPipelineInputs:
    """What one compiled batch pipeline depends on; its digest identifies the package."""

    run_name: str
    model_uri: str
    training_run: str | None
    input_uri: str
    input_format: str
    input_version: str | None
    schema_columns: tuple[dict[str, Any], ...] | None
    keep_columns: tuple[str, ...]
    chunk_size: int
    parallelism: int
    predictions_uri: str
    output_uri: str
    drift_statistic: str = "psi"
    drift_threshold: float = 0.2
    image: str = catalog.DEFAULT_IMAGE
    storage: StorageSettings = StorageSettings()

    def document(self) -> dict[str, Any]:
        return {
            **({"storage": self.storage.document()} if self.storage != StorageSettings() else {}),
            "runName": self.run_name, "modelUri": self.model_uri, "trainingRun": self.training_run,
            "inputUri": self.input_uri, "inputFormat": self.input_format, "inputVersion": self.input_version,
            "schema": list(self.schema_columns) if self.schema_columns is not None else None,
            "keepColumns": list(self.keep_columns), "chunkSize": self.chunk_size, "parallelism": self.parallelism,
            "predictionsUri": self.predictions_uri, "outputUri": self.output_uri,
            "driftStatistic": self.drift_statistic, "driftThreshold": self.drift_threshold, "image": self.image,
            "kfp": kfp.__version__, "code": training_pipeline.code_version(), "components": components_fingerprint(),
        }

    def digest(self) -> str:
        canonical = json.dumps(self.document(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def shape_digest(self) -> str:
        shape = {k: self.document()[k] for k in ("parallelism", "image", "kfp", "code", "components")}
        return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()

    def run_parameters(self) -> dict[str, Any]:
        return {
            "run_name": self.run_name,
            "model_uri": self.model_uri,
            "training_run": self.training_run or "",
            "input_uri": self.input_uri,
            "input_format": self.input_format,
            "input_version": self.input_version or "",
            "schema_json": json.dumps(list(self.schema_columns), sort_keys=True) if self.schema_columns else "",
            "keep_columns_json": json.dumps(list(self.keep_columns)),
            "chunk_size": self.chunk_size,
            "predictions_uri": self.predictions_uri,
            "output_uri": self.output_uri,
            "drift_statistic": self.drift_statistic,
            "drift_threshold": float(self.drift_threshold),
            "pipeline_digest": self.digest(),
        }


def build(inputs: BatchPipelineInputs):
    """The kfp pipeline function for these inputs (parameter defaults are set per run after compiling)."""
    def make(func):
        return dsl.component(func, base_image=inputs.image, install_kfp_package=False)

    prepare, score, summarize = (make(batch_steps.batch_prepare), make(batch_steps.batch_score),
                                 make(batch_steps.batch_summarize))
    shards = list(range(inputs.parallelism))
    p = inputs.run_parameters()

    @dsl.pipeline(name=PIPELINE_NAME, description="Score new rows with a model version, chunk by chunk.")
    def batch_pipeline(
        run_name: str = p["run_name"],
        model_uri: str = p["model_uri"],
        training_run: str = p["training_run"],
        input_uri: str = p["input_uri"],
        input_format: str = p["input_format"],
        input_version: str = p["input_version"],
        schema_json: str = p["schema_json"],
        keep_columns_json: str = p["keep_columns_json"],
        chunk_size: int = p["chunk_size"],
        predictions_uri: str = p["predictions_uri"],
        output_uri: str = p["output_uri"],
        drift_statistic: str = p["drift_statistic"],
        drift_threshold: float = p["drift_threshold"],
        pipeline_digest: str = p["pipeline_digest"],
    ):
        planned = prepare(model_uri=model_uri, input_uri=input_uri, input_format=input_format,
                          keep_columns_json=keep_columns_json, output_uri=output_uri)
        with dsl.ParallelFor(items=shards, parallelism=inputs.parallelism) as shard:
            scored = score(plan_json=planned.output, model_uri=model_uri, input_uri=input_uri,
                           input_format=input_format, schema_json=schema_json, keep_columns_json=keep_columns_json,
                           chunk_size=chunk_size, shard=shard, shards=len(shards), predictions_uri=predictions_uri,
                           output_uri=output_uri)
        summarized = summarize(tallies=dsl.Collected(scored.output), plan_json=planned.output, model_uri=model_uri,
                               predictions_uri=predictions_uri, output_uri=output_uri,
                               drift_statistic=drift_statistic, drift_threshold=drift_threshold,
                               training_run=training_run, input_uri=input_uri, input_version=input_version,
                               pipeline_digest=pipeline_digest)
        for step in (planned, scored, summarized):
            step.set_caching_options(False)  # steps read live data and write the run's outputs
            apply_to_step(step, inputs.storage)  # the object store's settings and the Secret's keys

    return batch_pipeline


_shapes: dict[str, training_pipeline.PipelineShape] = {}


def compile_now(inputs: BatchPipelineInputs) -> str:
    import tempfile

    from kfp import compiler

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "pipeline.yaml"
        compiler.Compiler().compile(build(inputs), str(path))
        return path.read_text()


def compile_batch_pipeline(inputs: BatchPipelineInputs) -> CompiledPipeline:
    """IR YAML of the run: compiled once per shape, then the run's values set as parameter defaults."""
    if inputs.parallelism < 1:
        raise ValueError(f"parallelism: must be at least 1, got {inputs.parallelism}")
    return training_pipeline.cached_compile(inputs, _shapes, compile_now)
